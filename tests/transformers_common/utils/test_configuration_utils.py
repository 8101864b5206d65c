"""Stands in for transformers' tests/utils/test_configuration_utils.py (not in the source distribution): a value
other than the default for each field of `PreTrainedConfig`, which `ConfigTester.check_config_arguments_init`
passes to the config and expects back."""

config_common_kwargs = {
    "return_dict": False,
    "output_hidden_states": True,
    "dtype": "float16",
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
}

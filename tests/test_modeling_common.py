"""transformers' own common model and configuration tests (`ModelTesterMixin`, `ConfigTester`, vendored from
transformers 5.25.0 in `transformers_common/`), run for each architecture as for a model contributed to
transformers: the encoder, the classifier and the masked-LM head. Tests that do not apply to these models are
skipped by transformers itself (with its reason) or listed in tests/README.md."""

import unittest
from unittest.mock import patch

import pytest
from transformers.models.auto import modeling_auto

pytest.importorskip("parameterized")
# About two minutes for the four architectures on 2 CPU cores; tests/test_models.py checks the same features fast.
pytestmark = pytest.mark.slow

import hf_seqmodels  # noqa: E402
from transformers_common.test_configuration_common import ConfigTester  # noqa: E402
from transformers_common.test_modeling_common import ModelTesterMixin, ids_tensor, random_attention_mask  # noqa: E402


class SeqModelsModelTester:
    """A tiny configuration and a batch of token ids with a random attention mask (holes included), as
    transformers' model testers make them."""

    def __init__(self, parent, architecture: str, batch_size=3, seq_length=7, vocab_size=50, hidden_size=16):
        self.parent = parent
        self.architecture = architecture
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size  # the width of hidden_states[0], the embeddings
        self.num_hidden_layers = 2
        self.num_attention_heads = 2
        self.num_labels = 3
        self.is_training = True
        if architecture == "transformer":
            # The Transformer's hidden states and attentions cover its own [CLS] position too.
            self.encoder_seq_length = seq_length + 1

    def get_config(self):
        sizes = dict(vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers, num_labels=self.num_labels)
        if self.architecture == "transformer":
            sizes |= dict(num_attention_heads=self.num_attention_heads, intermediate_size=24, max_position_embeddings=32)
        else:
            sizes |= dict(embedding_size=self.hidden_size)
        return hf_seqmodels.ARCHITECTURES[self.architecture].config_class(**sizes)

    def prepare_config_and_inputs_for_common(self):
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size)
        attention_mask = random_attention_mask([self.batch_size, self.seq_length])
        return self.get_config(), {"input_ids": input_ids, "attention_mask": attention_mask}


class SeqModelsModelTest(ModelTesterMixin):
    architecture: str
    # transformers runs this only for models added since 2023 (read from a copyright line these files lack).
    test_can_init_all_missing_weights_before_2023 = True

    def setUp(self):
        self.model_tester = SeqModelsModelTester(self, self.architecture)
        common_properties = ["hidden_size", "num_hidden_layers"] + (["num_attention_heads"] if self.has_attentions else [])
        config_class = hf_seqmodels.ARCHITECTURES[self.architecture].config_class
        self.config_tester = ConfigTester(self, config_class=config_class, common_properties=common_properties, hidden_size=36)

    @classmethod
    def model_classes(cls, architecture):
        classes = hf_seqmodels.ARCHITECTURES[architecture]
        return (classes.encoder_class, classes.classifier_class, classes.masked_lm_class)

    @classmethod
    def setUpClass(cls):
        # The mixin tells an encoder from a head (which labels it takes, whether it has a loss) by transformers'
        # own lists of class names, where a model contributed to transformers is listed; these are registered
        # with the Auto classes instead. Listed here while the class's tests run.
        classes = hf_seqmodels.ARCHITECTURES[cls.architecture]
        model_type = classes.config_class.model_type
        for names, model_class in (
            (modeling_auto.MODEL_MAPPING_NAMES, classes.encoder_class),
            (modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES, classes.classifier_class),
            (modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES, classes.masked_lm_class),
        ):
            cls.enterClassContext(patch.dict(names, {model_type: model_class.__name__}))

    def test_config(self):
        self.config_tester.run_common_tests()


class RNNModelTest(SeqModelsModelTest, unittest.TestCase):
    architecture = "rnn"
    all_model_classes = SeqModelsModelTest.model_classes("rnn")
    has_attentions = False  # a recurrent model has no attention weights


class LSTMModelTest(SeqModelsModelTest, unittest.TestCase):
    architecture = "lstm"
    all_model_classes = SeqModelsModelTest.model_classes("lstm")
    has_attentions = False


class GRUModelTest(SeqModelsModelTest, unittest.TestCase):
    architecture = "gru"
    all_model_classes = SeqModelsModelTest.model_classes("gru")
    has_attentions = False


class TransformerModelTest(SeqModelsModelTest, unittest.TestCase):
    architecture = "transformer"
    all_model_classes = SeqModelsModelTest.model_classes("transformer")

"""The named recipes: `--architecture gru` trains what the shipped `gru.json` (the README's results) trains."""

import dataclasses
import json

import pytest
from helpers import ARCHITECTURES, REPO_ROOT, assert_refused, run_command

from hf_seqmodels.errors import UsageError
from hf_seqmodels.training import parse_args, parse_pretraining_args
from hf_seqmodels.training.recipes import list_recipes, recipe

CONFIGS = REPO_ROOT / "hf_seqmodels" / "configs"


run = run_command


def fields(arguments) -> dict:
    """Every field of an argument dataclass by name (TrainingArguments' derived ones included)."""
    return {field.name: getattr(arguments, field.name) for field in dataclasses.fields(arguments)}


def test_every_shipped_config_file_is_its_registered_recipe():
    shipped = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in CONFIGS.glob("*.json")}
    assert sorted(shipped) == list_recipes()
    assert list_recipes() == sorted([*ARCHITECTURES, *(f"{name}-mlm" for name in ARCHITECTURES)])  # every one has both
    for name, values in shipped.items():
        assert values == recipe(name), name


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_architecture_alone_trains_what_its_config_file_trains(architecture, tmp_path):
    by_name = parse_args(["--architecture", architecture, "--output_dir", str(tmp_path)])
    by_file = parse_args([str(CONFIGS / f"{architecture}.json"), "--output_dir", str(tmp_path)])
    for from_recipe, from_file in zip(by_name, by_file):
        assert fields(from_recipe) == fields(from_file)
    # ... which is not what the dataclasses' defaults alone would train.
    model_args, _, training_args = by_name
    assert (model_args.vocab_size, training_args.per_device_train_batch_size) == (60000, 32) != (30000, 64)
    assert (training_args.learning_rate, training_args.num_train_epochs) == (
        recipe(architecture)["learning_rate"],
        recipe(architecture)["num_train_epochs"],
    )


@pytest.mark.parametrize("architecture", ["gru", "transformer"])
def test_pretrain_with_the_architecture_alone_pretrains_what_its_mlm_config_file_does(architecture, tmp_path):
    by_name = parse_pretraining_args(["--architecture", architecture, "--output_dir", str(tmp_path)])
    by_file = parse_pretraining_args([str(CONFIGS / f"{architecture}-mlm.json"), "--output_dir", str(tmp_path)])
    for from_recipe, from_file in zip(by_name, by_file):
        assert fields(from_recipe) == fields(from_file)
    assert by_name[0].config_overrides == recipe(f"{architecture}-mlm")["config_overrides"]


def test_options_given_override_the_recipe_and_the_rest_of_it_stays(tmp_path):
    model_args, data_args, training_args = parse_args(
        ["--architecture=gru", "--learning_rate", "0.01", "--vocab_size", "800", "--output_dir", str(tmp_path)]
    )
    assert (training_args.learning_rate, model_args.vocab_size) == (0.01, 800)
    assert (training_args.weight_decay, training_args.num_train_epochs) == (0.1, 3)


def test_a_config_file_replaces_the_recipe_and_what_it_leaves_out_keeps_the_dataclass_defaults(tmp_path):
    """A run given a config file trains as it did before recipes existed: the file is a recipe of its own."""
    config = tmp_path / "mine.json"
    config.write_text(json.dumps({"architecture": "gru", "num_train_epochs": 2}))
    model_args, _, training_args = parse_args([str(config), "--output_dir", str(tmp_path)])
    defaults = {field.name: field.default for field in dataclasses.fields(type(training_args))}
    assert training_args.num_train_epochs == 2
    assert training_args.learning_rate == defaults["learning_rate"] != recipe("gru")["learning_rate"]
    assert model_args.vocab_size == 30000  # ModelArguments' default, not the recipe's 60,000


def test_starting_from_a_saved_folder_without_an_architecture_uses_no_recipe(tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    model_args, _, training_args = parse_args(["--model_name_or_path", str(folder), "--output_dir", str(tmp_path)])
    assert model_args.max_length is None  # the saved tokenizer's own length, as before
    assert training_args.learning_rate == 2e-3


def test_list_recipes_names_every_recipe_with_its_values(capsys):
    code, out, _ = run(capsys, "train", "--list_recipes")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines()] == list_recipes()
    assert "--learning_rate 0.005" in out.splitlines()[list_recipes().index("gru")]
    code, out, _ = run(capsys, "pretrain", "--list_recipes")
    assert [line.split(":")[0] for line in out.splitlines()] == list_recipes("*-mlm") == [
        f"{name}-mlm" for name in sorted(ARCHITECTURES)
    ]


def test_an_unknown_recipe_or_architecture_is_named_in_one_line(capsys):
    with pytest.raises(UsageError, match=r"recipe 'grue': no such recipe; registered: gru, gru-mlm"):
        recipe("grue")
    code, _, err = run(capsys, "train", "--architecture", "grue", "--output_dir", "out")
    assert_refused(code, err, "train", ["--architecture", "grue", "gru"])

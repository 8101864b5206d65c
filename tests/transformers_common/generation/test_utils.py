"""Stands in for transformers' tests/generation/test_utils.py (not in the source distribution): test_modeling_common
names `GenerationTesterMixin` only to check that models which cannot generate do not inherit it."""


class GenerationTesterMixin:
    pass

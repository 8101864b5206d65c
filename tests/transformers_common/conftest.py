# The mixins here are run through tests/test_modeling_common.py, not collected on their own.
collect_ignore_glob = ["*.py"]

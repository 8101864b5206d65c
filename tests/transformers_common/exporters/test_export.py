"""Stands in for transformers' tests/exporters/test_export.py (not in the source distribution): `ModelTesterMixin`
inherits `ExportTesterMixin`, whose tests export every model class with `torch.export` (through transformers'
`DynamoExporter`) and compare the exported program's outputs with eager PyTorch's."""

import torch
from transformers.exporters.exporter_dynamo import DynamoConfig, DynamoExporter
from transformers.testing_utils import torch_device


class ExportTesterMixin:
    def _check_torch_export(self, dynamic: bool):
        if not self.test_torch_exportable:
            self.skipTest(reason="test_torch_exportable is False for this model")
        config, inputs_dict = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            with self.subTest(model_class=model_class.__name__):
                model = model_class(config).to(torch_device).eval()
                inputs = self._prepare_for_class(inputs_dict, model_class)
                with torch.no_grad():
                    expected = model(**inputs)
                exported = DynamoExporter().export(model, inputs, config=DynamoConfig(dynamic=dynamic))
                got = exported(**inputs)
                for key, value in expected.items():
                    if isinstance(value, torch.Tensor):
                        torch.testing.assert_close(got[key], value, atol=1e-5, rtol=1e-5, msg=key)

    def test_torch_export_static(self):
        self._check_torch_export(dynamic=False)

    def test_torch_export_dynamic(self):
        self._check_torch_export(dynamic=True)

"""Delivery: upload descriptors, md5 files, and sending datasets to a store with their checks followed.

Typical use::

    from gpf_flow.delivery import load_descriptor, deliver
    report = deliver(store, load_descriptor("raster-sample/upload_descriptor.jsonc"), behavior="CONTINUE")
    assert report.ok
"""

from __future__ import annotations

from gpf_flow.delivery.descriptor import DescriptorError, UploadDescriptor, load_descriptor
from gpf_flow.delivery.events import DatasetResult, DeliveryReport, FailedCheck, StaticResult
from gpf_flow.delivery.uploader import BEHAVIORS, PollPolicy, Uploader, deliver

__all__ = [
    "BEHAVIORS",
    "DatasetResult",
    "DeliveryReport",
    "DescriptorError",
    "FailedCheck",
    "PollPolicy",
    "StaticResult",
    "UploadDescriptor",
    "Uploader",
    "deliver",
    "load_descriptor",
]

"""The Géoplateforme store: the real Entrepôt API over HTTP (``httpx``), same interface as the local one."""

from gpf_flow.store.base import flatten_tree
from gpf_flow.store.geoplateforme.settings import GpfSettings, load_settings
from gpf_flow.store.geoplateforme.store import GeoplateformeStore

__all__ = ["GeoplateformeStore", "GpfSettings", "flatten_tree", "load_settings"]

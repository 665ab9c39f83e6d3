"""PostgreSQL/PostGIS for VECTOR-DB stored data: the home's own cluster or a server given by DSN.

- :mod:`.settings`: which database (``--postgres``/``GPF_FLOW_POSTGRES``/config ``postgres``).
- :mod:`.cluster`: the embedded cluster (``initdb``, start on first use, stop, crash recovery).
- :mod:`.database`: the API the processings and services use (:func:`database_for`,
  :class:`Database`: ``connect(schema)``, ``relations``, ``extent``, ``query``).
- :mod:`.naming`, :mod:`.sources`, :mod:`.integrate`: loading uploads as ``ogr2ogr`` does.
"""

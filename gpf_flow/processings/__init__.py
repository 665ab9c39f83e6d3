"""The local store's processings: pure functions from input folders to an output folder.

``base`` is the contract and catalog; ``raster_pyramid``, ``vector_db``, ``vector_pyramid`` and
``archive`` implement the catalog entries (their ``run`` functions); the other modules are their
parts (``raster_*``, ``mbtiles``). Output layouts: ``/work/notes/processings.md`` (MBTiles, GPKG).
"""

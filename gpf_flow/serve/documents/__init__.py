"""The API's document entities that only the server keeps: annexes (files published at public URLs),
ISO 19139 metadata and stored-data sharings, in ``documents.sqlite`` and folders of the store's home.

They live beside the REST API rather than in the local store because nothing but the API reads them:
the engine and the processings never do.
"""

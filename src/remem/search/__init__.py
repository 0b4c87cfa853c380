"""Retrieval: ``pipeline.search`` runs the stages (``stages``, ``fusion``, ``graph``)
over the store's candidates and packs the hits (``packing``)."""

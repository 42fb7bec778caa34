"""CI around asv: the trend site at HEAD (``publish``), the regression gate between two commits
(``gate``), and the offline assets of asv's site (``site``). Beside the pipeline, like the
studies; asv is the ``asv`` extra."""

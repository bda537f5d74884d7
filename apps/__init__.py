"""rankdet's applications, beside the library: ``make demo`` (:mod:`apps.demo`), the
evidence runs of ``tools/compare.py`` (:mod:`apps.evidence`), the pair-analysis drivers
(:mod:`apps.pairs`), the toy scorer problem (:mod:`apps.toy`) and the helpers they share
to load configs and run models (:mod:`apps.runner`).

Arrows point down: these import ``rankdet`` (the library) and ``data_converters``;
nothing under ``rankdet/`` imports them (tests/test_layering.py)."""

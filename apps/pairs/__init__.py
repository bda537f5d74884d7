"""The pair analysis of a trained detector (``tools/analyze_pairs.py``): a config's test
set run through a checkpoint, its anchors labelled and scored, and the statistics of
:mod:`rankdet.analysis` (Table 3, Figure 3) computed from them; 2D
(:mod:`.analyze_pairs`) and SA-SSD (:mod:`.analyze_pairs_3d`)."""

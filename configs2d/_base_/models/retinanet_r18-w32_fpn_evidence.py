# The RetinaNet of tools/compare.py's evidence runs: the CPU demo model with ResNet-18 at
# half width (base_channels 32), so that three seeds of focal and ranking runs fit in an
# hour on two cores.
_base_ = './retinanet_r18_fpn_demo.py'

width = 32
model = dict(
    backbone=dict(base_channels=width),
    neck=dict(in_channels=[width, width * 2, width * 4, width * 8]),
    # every box after NMS is scored: AP then measures how each loss ranks and places
    # boxes, not where the paper's threshold (0.05) cuts a short run's scores
    test_cfg=dict(score_thr=0.0))

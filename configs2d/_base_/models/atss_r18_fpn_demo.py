# A CPU-sized ATSS: ResNet-18, a 64-channel FPN and a head of two 64-channel convs per
# branch (GroupNorm of 32 groups as ATSS's), trained from random weights.
_base_ = './atss_r50_fpn.py'

model = dict(
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64, stacked_convs=2))

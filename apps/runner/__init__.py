"""What the applications and tools/ share to run a config: load it
(:mod:`.runner_config`), point it at a data folder (:mod:`.coco_data_root`,
:mod:`.kitti_data_root`), stretch its schedule (:mod:`.fit_schedule`), build its model
with a checkpoint outside a Runner (:mod:`.trained_model`), and name the CPU of a
measurement (:mod:`.cpu_name`)."""

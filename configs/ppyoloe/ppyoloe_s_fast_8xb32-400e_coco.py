# PP-YOLOE-s trained for 400 instead of 300 epochs; the ATSS phase grows in
# proportion (133 epochs, a third of the run, as 100 of 300).
_base_ = './ppyoloe_s_fast_8xb32-300e_coco.py'

max_epochs = 400

model = dict(train_cfg=dict(initial_epoch=133))

default_hooks = dict(param_scheduler=dict(total_epochs=int(max_epochs * 1.2)))

train_cfg = dict(max_epochs=max_epochs)

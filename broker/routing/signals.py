"""Signals of the routing app, each sent inside the transaction that changed the study.

study_completed(sender, study): a study became COMPLETE (the reason is on the row).
study_routed(sender, study): every routing job of the study is DONE (sent again when late instances were routed).
"""
from django.dispatch import Signal

study_completed = Signal()
study_routed = Signal()

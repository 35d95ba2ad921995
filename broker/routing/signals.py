"""study_completed(sender, study): a study became COMPLETE (the reason is on the row); sent in its transaction."""
from django.dispatch import Signal

study_completed = Signal()

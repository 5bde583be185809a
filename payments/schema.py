"""Every table on one registry: importing this module loads each context's models.

Alembic's environment and the test suite import it, so ``Base.metadata`` always holds the
whole schema whichever module was imported first.
"""

from __future__ import annotations

from payments.checkout import models as checkout_models
from payments.collections import log_models as collections_log_models
from payments.collections import models as collections_models
from payments.console import models as console_models
from payments.db import Base
from payments.disputes import models as disputes_models
from payments.events import models as events_models
from payments.invoicing import models as invoicing_models
from payments.ledger import models as ledger_models
from payments.links import models as links_models
from payments.outbox import models as outbox_models
from payments.resolutions import models as resolutions_models
from payments.staff import models as staff_models

MODELS = (checkout_models, collections_models, collections_log_models, console_models,
          disputes_models, events_models, invoicing_models, ledger_models, links_models,
          outbox_models, resolutions_models, staff_models)
metadata = Base.metadata

__all__ = ["MODELS", "metadata"]

"""The bound customer's own profile: name, VIP status, risk level and personal manager."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..masking import mask_phone
from ..models import Branch, Customer, RelationshipManager
from . import Ctx
from .suitability import assessment_of


def manager_view(session: Session, manager: RelationshipManager) -> dict[str, Any]:
    branch = session.get(Branch, manager.branch_id)
    return {
        "manager_id": manager.id,
        "name": manager.name,
        "title": manager.title,
        "branch_id": manager.branch_id,
        "branch_name": branch.name if branch else None,
        "phone": f"{manager.office_phone} 转 {manager.extension}",
        "extension": manager.extension,
        "masked_mobile": mask_phone(manager.mobile),
    }


def profile(session: Session, ctx: Ctx, customer: Customer) -> dict[str, Any]:
    """VIPs get their manager's contact (office line with extension, masked mobile)."""
    manager = None
    if customer.vip and customer.manager_id:
        row = session.get(RelationshipManager, customer.manager_id)
        manager = manager_view(session, row) if row else None
    assessment = assessment_of(session, ctx, customer)
    return {
        "customer_id": customer.id,
        "name": customer.name,
        "masked_phone": mask_phone(customer.phone),
        "vip": bool(customer.vip),
        "risk_level": customer.risk_level,
        "risk_label": assessment["label"],
        "risk_assessed_at": assessment["assessed_at"],
        "risk_expires_at": assessment["expires_at"],
        "risk_assessment_valid": assessment["valid"],
        "manager": manager,
    }

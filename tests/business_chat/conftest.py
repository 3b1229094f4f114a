from __future__ import annotations

from typing import Any

import pytest

from bc_msp import MSP


@pytest.fixture
def msp(provider_sim: Any) -> MSP:
    return MSP(provider_sim)


@pytest.fixture
def hooked(provider_sim: Any, provider_sim_receiver: Any, msp: MSP) -> MSP:
    """The MSP with its webhook pointed at a real loopback receiver."""
    r = provider_sim.http.post(f"/_sim/business-chat/businesses/{msp.business}",
                               json={"webhookUrl": provider_sim_receiver.url})
    assert r.status_code == 200, r.text
    msp.receiver = provider_sim_receiver  # type: ignore[attr-defined]
    return msp

"""attnflow: Transformers as flows that move a cloud of token vectors through embedding space.

```python
import attnflow as af
x0 = af.init.uniform_sphere(n=256, d=3, seed=0)
traj = af.simulate(af.SelfAttention(beta=4.0, variant="SA"), x0, t_end=30.0, dt=0.1, method="rk4")
```
"""

from attnflow import init
from attnflow.dynamics import FeedForward, SelfAttention
from attnflow.integrate import simulate
from attnflow.trajectory import Trajectory

__version__ = "0.1.0"

__all__ = ["FeedForward", "SelfAttention", "Trajectory", "__version__", "init", "simulate"]

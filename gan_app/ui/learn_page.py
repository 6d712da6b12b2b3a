"""Short explanations tied to what is on screen, grounded in the tutorials the app grew from."""

from __future__ import annotations

import streamlit as st

VALUE_FUNCTION = r"\min_G \max_D V(D, G) = \mathbb{E}_{x \sim p_{data}}[\log D(x)] + \mathbb{E}_{z \sim p_z}[\log(1 - D(G(z)))]"

TEXT = {
    "game": """
**The game.** The generator G turns a noise vector z into an image; the discriminator D outputs the
probability that an image is real. D is trained to push D(x) towards 1 for real digits and D(G(z))
towards 0 for generated ones; G is trained to push D(G(z)) towards 1. Goodfellow et al. write it as one
value function (eq. 1) that D maximises and G minimises:
""",
    "nonsaturating": """
**Why the generator uses the non-saturating loss.** Early on, G is poor and D rejects its samples with
confidence, so log(1 - D(G(z))) is flat: G gets almost no gradient. Training G to *maximise* log D(G(z))
instead has the same fixed point but strong gradients early on (the trick quoted in tutorial 002). The
**Generator loss** setting switches between the two live: with *minimax* the g_loss curve goes negative
(it is log(1 - D(G(z)))), and on a fresh run you can watch learning stall.
""",
    "k": """
**k D steps per G step.** Algorithm 1 of the paper trains D k times for every G update, keeping D near its
optimum while G changes slowly. The **k** setting applies live.
""",
    "equilibrium": """
**What D(x) = D(G(z)) = 0.5 means.** In the second chart, the two curves are the mean outputs of D on real
and on generated images. If G reproduced the data perfectly, the best D could do is guess: 0.5 for both
(the dashed line). In practice the curves hover around it and d_loss hovers near log 2 = 0.69; a d_loss
near 0 with D(G(z)) near 0 means D has won and G is getting no useful signal.
""",
    "network_vs_model": """
**Network vs model (tutorial 000).** One discriminator *network* lives in two *models*: the discriminator
model, compiled to learn, and the combined `gan` model, where D must stay fixed while G learns. The
tutorials do this with `discriminator.trainable = False` before compiling `gan`, and explain that
`compile()` captures the flag.

On Keras 3 that recipe, as written, **freezes D for good**: Keras captures a model's trainable weights when
its train function is first traced (at the first `train_on_batch`), not at `compile()`. With the flag
already False at D's first call, D never learns; Keras only warns once that the model has no trainable
weights. The app's *classic* mode keeps the recipe but sets the flag right before each model's first call.

The dashboard trains another way: one compiled step with a `GradientTape` and explicit variable lists.
D's update applies gradients to D's variables only; G's update applies gradients to G's variables only,
with D called in inference mode, so no D weight moves. The same generated batch serves both updates,
which saves a generator forward pass per step.
""",
}


def render() -> None:
    st.title("Learn: what you are watching")
    st.markdown(TEXT["game"])
    st.latex(VALUE_FUNCTION)
    for key in ("nonsaturating", "k", "equilibrium", "network_vs_model"):
        st.markdown(TEXT[key])

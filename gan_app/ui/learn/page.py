"""The Learn page: the GAN training now, in pictures (its networks, its losses, one iteration in
slow motion, the Keras 3 trap run for real), each tied to the tutorial it explains, and the
ideas in words below them."""

from __future__ import annotations

from typing import Any

import streamlit as st

from gan_app.live.trainer import LiveTrainer, Snapshot
from gan_app.models.graph import preset_diagram
from gan_app.train.trap import RECIPES, TrapResult, run_trap
from gan_app.ui.common import can_control, get_trainer, presenter_sidebar, run_control, show_notice
from gan_app.ui.learn.live import learn_live
from gan_app.ui.shared import RENDERS

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
    "d_scores": """
**Which fakes fool D right now.** Switch on *Show what D thinks of each sample* under the live grid: every
sample gets D's probability that it is real, from the same step as the grid. Green frames fool D, red ones
do not. Early on every frame is red; near the equilibrium the numbers hover around 0.5 and the colours
flicker, because D can no longer tell. D's opinion is not a quality score: a blurry sample can fool a D
that is itself confused.
""",
    "conditional": """
**Telling G which digit.** The *conditional* preset gives G a learned embedding of the digit beside z, and
D a learned 28x28 map of the digit as a second image channel. D now asks "is this a real 7?", so G must
draw the digit it was asked for: *label accuracy* (the share of samples the reference classifier reads as
that digit) climbs with the FID curve. In the latent lab, "same z, every digit" shows that z keeps the
style (slant, thickness) while the digit input chooses the digit.
""",
    "groups": """
**Why `fast` learns sooner: groups of look-alike digits.** Before the run starts, `fast` sorts the training
images into 50 groups of look-alikes by k-means on their pixels (no labels: it works on any images). G's
first layer, *latent_group*, lets z's first number pick a group, each as often as it occurs in the data,
and G reads a learned embedding of that group beside z. D is told the group too (a learned 28x28 map as a
second image channel): for a fake, the group z picked; for a real image, the group whose mean image is
nearest. D now asks "is this a real member of group 12?", an easier question with a sharper answer, and G
has less to sort out at once: the same networks reach a given quality in about half the steps. G still
takes only z: every slider, direction and drawing tool in the lab works as before, and sliding z's first
number steps from group to group. G practises every group equally often; the samples you see come from
G's moving average, which picks the groups as often as the data has them.
""",
    "inversion": """
**Finding a drawing in latent space.** G maps z to an image, but there is no map back. *Find in latent
space* searches for one: it starts from 16 random z, changes them step by step to make G(z) look more like
your drawing (G stays fixed), and keeps the best. The error it reports is how far the closest image G can
draw is from yours; a digit G rarely draws stays far.
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


WORDS = ("k", "equilibrium", "d_scores", "groups", "conditional", "inversion", "network_vs_model", "nonsaturating")
TRAP_SHOWN = "learn_trap_shown"  # session_state: this tab asked for the trap experiment


def diagram(trainer: LiveTrainer, snap: Snapshot) -> tuple[dict[str, Any], str]:
    """The diagram of the run's G and D as the trainer's worker reads them from its models, or,
    before the run has built them, of the preset's networks built afresh; built once per run
    for every viewer."""
    built = snap.status != "idle" or snap.step > 0
    key = (snap.run_id, snap.config.preset, built)

    def build() -> dict[str, Any]:
        live = trainer.model_diagram() if built else None
        return live or preset_diagram(snap.config.preset_obj())

    return RENDERS.get("learn_diagram", key, build), ":".join(map(str, key))


@st.cache_resource(show_spinner="Training the tutorial's networks one batch each way...", max_entries=1)
def _trap_results() -> list[TrapResult]:
    return [run_trap(recipe) for recipe in RECIPES]  # once per server, whoever asks first


def _trap() -> None:
    st.subheader("The Keras 3 trap, run for real")
    st.caption("Tutorials 000 and 002: one discriminator network in two models. Tutorial 003's own networks, one "
               "`train_on_batch` of D and one of the combined `gan`, two ways.")
    if not st.session_state.get(TRAP_SHOWN):
        if not st.button("Run the experiment", help="Builds tutorial 003's G and D and trains each one batch, twice"):
            return
        st.session_state[TRAP_SHOWN] = True
    rows = [{"recipe": r.recipe, "how": RECIPES[r.recipe],
             "D's weights its train function captured": r.d_trainable_at_first_call,
             "D moved by its own step": f"{r.d_moved_by_d_step:.2e}",
             "D moved by gan's step": f"{r.d_moved_by_gan_step:.2e}",
             "G moved by gan's step": f"{r.g_moved_by_gan_step:.2e}",
             "D learns": "yes" if r.d_learns else "no: frozen for good"} for r in _trap_results()]
    st.dataframe(rows, hide_index=True)
    st.markdown("As written, D's first `train_on_batch` traces with the flag already False: D captures no "
                "trainable weights and never changes, while G trains against a D that stays random. "
                "Set right before each model's first call, D learns from its own step and stays fixed "
                "in gan's. The dashboard's fused step needs no flag: it applies D's gradient to D's "
                "variables and G's to G's.")


def render() -> None:
    st.title("Learn: the GAN training now")
    st.markdown(TEXT["game"])
    st.latex(VALUE_FUNCTION)
    show_notice()
    trainer = get_trainer()
    snap = trainer.snapshot()
    picture, key = diagram(trainer, snap)
    if learn_live(snap, picture, key, can_control(st.session_state)) == "next":
        run_control(st.session_state, trainer.slow_step)
    _trap()
    with st.expander("The ideas in words"):
        for name in WORDS:
            st.markdown(TEXT[name])
    presenter_sidebar()

"""ipywidgets explorers. Without a notebook front end (plain Python, headless runs) they draw one
static figure of the default settings instead, so the same cell runs everywhere. In a notebook, the
explorer's output also carries that figure as a PNG, which viewers that cannot run widgets (GitHub,
nbviewer) show in its place; JupyterLab, Colab and the course website show the widget."""
from __future__ import annotations

import torch
from torchvision.transforms import v2

from .plot import show_images


def _has_frontend() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, Colab, VS Code); False in plain Python."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def augmentation_figure(images, padding=4, flip_p=0.5, normalize=False, mean=None, std=None, seed=0,
                        class_names=None, labels=None):
    """Each uint8 image (N, C, H, W) with RandomCrop(32, padding) + RandomHorizontalFlip(flip_p) applied.

    With ``normalize`` the augmented images are normalized and shown as the network sees them
    (values rescaled per image only for display); otherwise they are shown as pictures.
    """
    torch.manual_seed(seed)
    size = images.shape[-2:]
    augment = v2.Compose([v2.RandomCrop(size, padding=padding), v2.RandomHorizontalFlip(flip_p)])
    out = torch.stack([augment(img) for img in images]).float() / 255
    title = f"RandomCrop(padding={padding}) + RandomHorizontalFlip(p={flip_p})"
    if normalize:
        out = v2.Normalize(mean, std)(out)
        low = out.amin(dim=(1, 2, 3), keepdim=True)
        high = out.amax(dim=(1, 2, 3), keepdim=True)
        out = (out - low) / (high - low)  # display only: map each normalized image back to 0..1
        title += " + Normalize (as the network sees it, rescaled for display)"
    return show_images(out, labels, class_names, title=title, ncols=min(8, len(out)))


def augmentation_explorer(images, labels=None, class_names=None, mean=None, std=None):
    """Sliders for padding and flip probability, a checkbox for normalization, a button for new samples."""
    if not _has_frontend():
        return augmentation_figure(images, mean=mean, std=std, class_names=class_names, labels=labels)
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    padding = widgets.IntSlider(value=4, min=0, max=12, description="padding")
    flip_p = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.1, description="flip p")
    normalize = widgets.Checkbox(value=False, description="normalize", disabled=mean is None)
    seed = widgets.IntText(value=0, description="seed")
    resample = widgets.Button(description="new random draw")
    output = widgets.Output()

    def redraw(*_):
        with output:
            output.clear_output(wait=True)
            fig = augmentation_figure(images, padding.value, flip_p.value, normalize.value, mean, std,
                                      seed.value, class_names, labels)
            plt.show(fig)

    for control in (padding, flip_p, normalize, seed):
        control.observe(redraw, names="value")
    resample.on_click(lambda _: setattr(seed, "value", seed.value + 1))
    box = widgets.VBox([widgets.HBox([padding, flip_p]), widgets.HBox([normalize, seed, resample]), output])
    redraw()
    display(with_static_fallback(box, augmentation_figure(images, mean=mean, std=std, class_names=class_names,
                                                          labels=labels)), raw=True)
    return box


def with_static_fallback(widget, fig) -> dict:
    """The display bundle of ``widget`` plus ``fig`` as an ``image/png``: a front end that renders widgets
    shows the widget (its renderer ranks first), any other viewer shows the picture. Closes ``fig``."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    bundle = dict(widget._repr_mimebundle_() or {})
    bundle["image/png"] = buffer.getvalue()
    return bundle

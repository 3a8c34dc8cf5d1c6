"""bayes_scaling: Bayesian fitting of neural scaling laws.

The common case in three lines::

    import bayes_scaling as bs
    result = bs.fit(runs_df, law="chinchilla")
    result.optimal_allocation(C=1e24)

Importing the package requests XLA host devices for parallel CPU chains and a
persistent compilation cache (see :mod:`bayes_scaling._jax_setup`); it does not
switch JAX to float64 globally.
"""

from ._jax_setup import configure_host_devices as _configure_host_devices

_configure_host_devices()  # must precede JAX's backend start-up

from ._jax_setup import configure_compilation_cache as _configure_compilation_cache  # noqa: E402

_configure_compilation_cache()

# NumPyro must be imported before ArviZ: importing arviz_base first leaves
# ``numpyro.distributions.distribution`` unbound, which breaks numpyro.factor.
import numpyro.distributions  # noqa: E402, F401

from . import calibration, checks, priors  # noqa: E402, F401  (bs.calibration, bs.checks, bs.priors)
from ._jax_setup import repair_numpyro_namespace as _repair_numpyro_namespace  # noqa: E402
from .accounting import Convention, apply_convention, compare_conventions  # noqa: E402
from .batch import FitBatch, fit_many  # noqa: E402
from .compare import Crossover, ParetoKWarning, compare_models  # noqa: E402
from .data import RunsTable, RunsTableError, load_runs  # noqa: E402
from .diagnostics import (  # noqa: E402
    ConvergenceWarning,
    DivergenceWarning,
    PriorDataConflictWarning,
    SamplingWarning,
    TreeDepthWarning,
)
from .discrepancy import calibrate_discrepancy, load_field_prior  # noqa: E402
from .downstream import DownstreamFit, fit_downstream, predict_downstream  # noqa: E402
from .extrapolation import ExtrapolationCalibration, calibrate_extrapolation  # noqa: E402
from .fit import ScalingFit, fit, load  # noqa: E402
from .groups import GroupStructure  # noqa: E402
from .hyperparams import fit_critical_batch_size, fit_hyperparameter_law  # noqa: E402
from .inference_allocation import inference_aware_allocation  # noqa: E402
from .laws import (  # noqa: E402
    BrokenPowerLaw,
    Chinchilla,
    DataConstrained,
    Kaplan,
    Law,
    PowerLaw,
    Saturating,
    get_law,
)
from .learning_curves import LearningCurveFit, fit_learning_curves  # noqa: E402
from .model_averaging import compare_laws, stacked_predict  # noqa: E402
from .priors import list_literature_priors, literature_priors, prior_predictive  # noqa: E402
from .regimes import RegimeReport, power_law_regime  # noqa: E402
from .repetition import epochs_worth, optimal_allocation_constrained  # noqa: E402
from .run_design import DesignWarning, RunPlan, interval_check, suggest_runs  # noqa: E402
from .simulate import EXAMPLE_TRUTH, example_runs, iso_flop_design, simulate  # noqa: E402

_repair_numpyro_namespace()  # in case ArviZ was imported before us

__version__ = "0.1.0"

__all__ = [
    "fit", "load", "ScalingFit", "fit_many", "FitBatch",
    "load_runs", "RunsTable", "RunsTableError",
    "Law", "Chinchilla", "Kaplan", "PowerLaw", "get_law",
    "BrokenPowerLaw", "Saturating", "power_law_regime", "RegimeReport",
    "fit_hyperparameter_law", "fit_critical_batch_size",
    "simulate", "iso_flop_design", "example_runs", "EXAMPLE_TRUTH",
    "SamplingWarning", "DivergenceWarning", "ConvergenceWarning", "TreeDepthWarning",
    "GroupStructure", "compare_models", "Crossover", "ParetoKWarning",
    "calibrate_extrapolation", "ExtrapolationCalibration",
    "calibrate_discrepancy", "load_field_prior",
    "Convention", "apply_convention", "compare_conventions", "inference_aware_allocation",
    "compare_laws", "stacked_predict",
    "suggest_runs", "interval_check", "RunPlan", "DesignWarning",
    "DataConstrained", "epochs_worth", "optimal_allocation_constrained",
    "fit_downstream", "predict_downstream", "DownstreamFit",
    "fit_learning_curves", "LearningCurveFit",
    "literature_priors", "list_literature_priors", "prior_predictive", "PriorDataConflictWarning",
]

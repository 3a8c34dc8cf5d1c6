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

from . import (  # noqa: E402, F401  (bs.calibration, bs.checks, ...: the packages)
    calibration,
    checks,
    compare,
    design,
    exceptions,
    extrapolation,
    priors,
)
from ._jax_setup import repair_numpyro_namespace as _repair_numpyro_namespace  # noqa: E402
from .baselines import ClassicalFit, IsoFlopFit, fit_approach2, fit_approach3  # noqa: E402
from .calibration.sbc import SBCResult, run_sbc  # noqa: E402
from .checks.regimes import RegimeReport, power_law_regime  # noqa: E402
from .compare.architectures import Crossover, compare_models  # noqa: E402
from .compare.conventions import compare_conventions  # noqa: E402
from .compare.model_averaging import compare_laws, stacked_predict  # noqa: E402
from .data.accounting import Convention, apply_convention  # noqa: E402
from .data.runs import RunsTable, RunsTableError, load_runs  # noqa: E402
from .design.inference_allocation import inference_aware_allocation  # noqa: E402
from .design.repetition import EpochsWorth, epochs_worth, optimal_allocation_constrained  # noqa: E402
from .design.run_design import IntervalCheck, RunPlan, interval_check, suggest_runs  # noqa: E402
from .exceptions import (  # noqa: E402
    AccountingWarning,
    AllocationWarning,
    BayesScalingWarning,
    ConvergenceWarning,
    DesignWarning,
    DivergenceWarning,
    InfeasibleTargetWarning,
    ParetoKWarning,
    PrecisionWarning,
    PriorDataConflictWarning,
    PriorDominatedWarning,
    RegimeWarning,
    SamplingWarning,
    SigmoidExtrapolationWarning,
    TreeDepthWarning,
)
from .extrapolation.discrepancy import DiscrepancyCalibration, calibrate_discrepancy  # noqa: E402
from .extrapolation.leave_future_out import ExtrapolationCalibration, calibrate_extrapolation  # noqa: E402
from .inference import diagnostics  # noqa: E402, F401  (bs.diagnostics, as before the layers)
from .inference.compiled import CompiledReleasedWarning  # noqa: E402
from .inference.nuts import SamplerConfig  # noqa: E402
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
from .models.allocation_discrepancy import AllocationDiscrepancy, load_allocation_prior  # noqa: E402
from .models.discrepancy import Discrepancy, FieldPriorOnlyWarning, load_field_prior  # noqa: E402
from .models.groups import GroupStructure  # noqa: E402
from .models.predictive import PriorPredictive, prior_predictive  # noqa: E402
from .models.simulation import EXAMPLE_TRUTH, example_runs, iso_flop_design, simulate  # noqa: E402
from .plots import plotting  # noqa: E402, F401  (bs.plotting, as before the layers)
from .priors.literature import list_literature_priors, literature_priors  # noqa: E402
from .results.base import PosteriorResults  # noqa: E402
from .results.batch import FitBatch, fit_many  # noqa: E402
from .results.chained import predict_downstream  # noqa: E402
from .results.critical_batch import CriticalBatchFit  # noqa: E402
from .results.downstream import DownstreamFit, fit_downstream  # noqa: E402
from .results.hyperparams import HyperparameterFit, fit_critical_batch_size, fit_hyperparameter_law  # noqa: E402
from .results.hyperparams import load as load_hyperparameter_fit  # noqa: E402
from .results.learning_curves import LearningCurveFit, fit_learning_curves  # noqa: E402
from .results.loading import load  # noqa: E402
from .results.scaling_fit import ScalingFit, fit  # noqa: E402

_repair_numpyro_namespace()  # in case ArviZ was imported before us

from ._legacy import install as _install_legacy_paths  # noqa: E402

_install_legacy_paths()  # old flat module paths: DeprecationWarning naming the new home

__version__ = "0.1.0"

__all__ = [
    # fitting and results
    "fit", "load", "ScalingFit", "fit_many", "FitBatch", "SamplerConfig",
    "fit_learning_curves", "LearningCurveFit",
    "fit_downstream", "predict_downstream", "DownstreamFit",
    "fit_hyperparameter_law", "fit_critical_batch_size", "HyperparameterFit", "CriticalBatchFit",
    "load_hyperparameter_fit",
    # data
    "load_runs", "RunsTable", "RunsTableError", "Convention", "apply_convention",
    "simulate", "iso_flop_design", "example_runs", "EXAMPLE_TRUTH",
    # laws and priors
    "Law", "Chinchilla", "Kaplan", "PowerLaw", "BrokenPowerLaw", "Saturating", "DataConstrained",
    "get_law", "literature_priors", "list_literature_priors", "prior_predictive",
    "PriorPredictive", "GroupStructure",
    # analyses
    "compare_models", "Crossover", "compare_laws", "stacked_predict", "compare_conventions",
    "power_law_regime", "RegimeReport", "calibrate_extrapolation", "ExtrapolationCalibration",
    "PosteriorResults", "calibrate_discrepancy", "DiscrepancyCalibration", "Discrepancy", "load_field_prior",
    "AllocationDiscrepancy", "load_allocation_prior",
    "run_sbc", "SBCResult", "suggest_runs", "interval_check", "RunPlan", "IntervalCheck",
    "epochs_worth", "optimal_allocation_constrained", "EpochsWorth",
    "inference_aware_allocation",
    "fit_approach2", "fit_approach3", "ClassicalFit", "IsoFlopFit",
    # warnings: all subclasses of BayesScalingWarning
    "BayesScalingWarning", "SamplingWarning", "DivergenceWarning", "ConvergenceWarning",
    "CompiledReleasedWarning",
    "TreeDepthWarning", "PrecisionWarning", "AllocationWarning", "RegimeWarning", "PriorDominatedWarning",
    "PriorDataConflictWarning", "ParetoKWarning", "DesignWarning", "InfeasibleTargetWarning",
    "SigmoidExtrapolationWarning", "AccountingWarning", "FieldPriorOnlyWarning",
]

"""The conversion guard: is the converted model as good as the float one for every class, not only overall?

Accuracy alone hides a minority class that int8 stops recognising: a class of a few percent of the windows
can lose most of its recall for a fraction of a point of accuracy. So the guard checks accuracy and
macro-F1 against --max-drop, and every class's recall against --max-class-drop, all in points.
"""
from __future__ import annotations

ADVICE = ("try quantization-aware fine-tuning (--qat, for a model of one network), more --representative "
          "windows (e.g. --representative 1000) or --per-channel weights; if one channel's int8 step is much coarser "
          "than its signal (the conversion report's input_saturation.step), retrain with [data] scaling = \"range\"; "
          "--mode float32 keeps the float figures")


def quality_drops(float_report: dict, converted: dict) -> dict:
    """Points lost from float to converted: accuracy, macro-F1, and each class's recall."""
    recall = {name: 100 * (float_report["per_class"][name]["recall"] - converted["per_class"][name]["recall"])
              for name in float_report["per_class"]}
    return {"accuracy_drop_points": 100 * (float_report["accuracy"] - converted["accuracy"]),
            "macro_f1_drop_points": 100 * (float_report["macro_f1"] - converted["macro_f1"]),
            "class_recall_drop_points": recall}


def quality_problems(report: dict, max_drop: float, max_class_drop: float) -> list[str]:
    """What the converted model loses beyond the limits, one sentence each; empty when it passes."""
    key = "int8" if "int8" in report else "tflite"
    problems = [f"{report['mode']} {label} is {report[f'{name}_drop_points']:.2f} points below float (limit {max_drop:g})"
                for name, label in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"))
                if report[f"{name}_drop_points"] > max_drop]
    fallen = [(name, drop) for name, drop in report["class_recall_drop_points"].items() if drop > max_class_drop]
    if fallen:
        classes = ", ".join(f"{name} {report['float']['per_class'][name]['recall']:.3f} -> "
                            f"{report[key]['per_class'][name]['recall']:.3f} ({drop:.2f} points)" for name, drop in fallen)
        problems.append(f"{report['mode']} recall fell more than {max_class_drop:g} points for {classes}")
    return problems

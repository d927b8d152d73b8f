"""ghostzoo: the GhostNet family, GENet-Res50, GhostNet-D and MobileNetV1 in MindSpore.

Importing the package (every entry script, tool and `import src.models` does) caps oneDNN at AVX2 unless the user
chose otherwise: on AVX-512 CPUs oneDNN's default picks a reference kernel for grouped (depthwise) convolutions
that ran 10-75x slower here. oneDNN reads the variable at its first primitive, so this works even when MindSpore
was imported first, as long as no operator has run yet.
"""
import os

CPU_ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"
os.environ.setdefault(CPU_ISA_VARIABLE, "AVX2")

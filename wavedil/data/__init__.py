"""Data: audio I/O (soundfile), pure functions, synthetic and folder sources,
datasets and Lightning datamodules."""

from wavedil.data.augment import Augment
from wavedil.data.corpora import VCTK, LibriTTS, LJSpeech
from wavedil.data.datamodules import ClassificationDataModule, GenerationDataModule
from wavedil.data.datasets import ClipDataset, CropDataset, collate_clips
from wavedil.data.io import AudioError, load_audio, read_audio, write_audio
from wavedil.data.sources import (
    FSDD,
    AudioFolder,
    Clip,
    ClipSplits,
    DataInfo,
    parse_fsdd_name,
    scan_folder,
    split_by_index,
    split_by_speaker,
    split_random,
)
from wavedil.data.synthetic import SyntheticClasses, SyntheticTones
from wavedil.data.tts import SyntheticVoices

__all__ = [
    "FSDD",
    "VCTK",
    "AudioError",
    "AudioFolder",
    "Augment",
    "ClassificationDataModule",
    "Clip",
    "ClipDataset",
    "ClipSplits",
    "CropDataset",
    "DataInfo",
    "GenerationDataModule",
    "LJSpeech",
    "LibriTTS",
    "SyntheticClasses",
    "SyntheticTones",
    "SyntheticVoices",
    "collate_clips",
    "load_audio",
    "parse_fsdd_name",
    "read_audio",
    "scan_folder",
    "split_by_index",
    "split_by_speaker",
    "split_random",
    "write_audio",
]

"""Small pieces every stage uses: atomic files and locks, the cache folder, progress bars, lazy exports.

Standard library only, except progress.py (tqdm).
"""

"""The app-side contract this program imports: the task registry and its tasks.

A stand-in for the Django app's ``gyrinx`` package with no Django dependency, so the
infrastructure program can be run and tested on its own. Point the stack config key
``gyrinx-tasks:registry`` at a real app's registry to use that instead.
"""

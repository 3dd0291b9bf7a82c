"""`chargen train --nproc N` (chargen.cli.processes): what every process of the job is told."""

from chargen.cli.processes import without_option


def test_only_the_nproc_option_is_taken_out_of_the_command_line():
    argv = ["train", "c.txt", "--nproc", "2", "--steps", "5", "--nproc=3", "--name", "x"]
    assert without_option(argv, "--nproc") == ["train", "c.txt", "--steps", "5", "--name", "x"]

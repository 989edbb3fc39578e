# The seed's Quick Start (PyXenon 3.0.2 docs, quick-start.rst), step by step.
# Changed from the seed, and only this:
# - the import lines (`import xenon` / `from xenon import` became
#   `from xenonfs import xenon` / `from xenonfs.xenon import`);
# - the server: the seed's docker image (localhost:10022, xenon/javagat) is
#   replaced by the test sshd, whose address and login come from the
#   environment;
# - the scheduler adaptor: 'ssh' instead of 'slurm' (the engine's slurm
#   adaptor needs the compatibility work of a later issue);
# - JobDescription is imported (the seed's text uses it without importing it).
import os

from xenonfs import xenon

LOCATION = os.environ["QUICKSTART_LOCATION"]
USERNAME = os.environ["QUICKSTART_USERNAME"]
PASSWORD = os.environ["QUICKSTART_PASSWORD"]

xenon.init()

from xenonfs.xenon import PasswordCredential, FileSystem

credential = PasswordCredential(
    username=USERNAME,
    password=PASSWORD)

remotefs = FileSystem.create(
    'sftp', location=LOCATION,
    password_credential=credential)

from xenonfs.xenon import Path

target = Path('hello.sh')

if remotefs.exists(target):
    remotefs.delete(target)

remotefs.write_to_file(
    target,
    [b'#!/bin/sh\n',
     b'echo "Hello, World!"\n'])

from xenonfs.xenon import Scheduler, JobDescription

scheduler = Scheduler.create(
    adaptor='ssh',
    location=LOCATION,
    password_credential=credential)

job_description = JobDescription(
    executable='/bin/sh',
    arguments=['hello.sh'],
    stdout='result.txt')

job = scheduler.submit_batch_job(job_description)

state = scheduler.wait_until_done(job)
print(state)

text = ''.join(chunk.decode() for chunk in
    remotefs.read_from_file(Path('result.txt')))
print(text)

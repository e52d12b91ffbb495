"""The CLI bad-input catalogue: every catalogued bad input (flags, files,
corrupt model folders, event logs, OPE inputs, service flags) is run through
the real `recbandit` binary, and each must exit with its documented code
(2: usage, 1: the command failed) within 60 s, print exactly one line on
stderr starting with the documented message (no stack trace, no progress
line, no unbounded echo of the input: under 600 bytes) and nothing on
stdout. `--markdown` prints the catalogue as the README's table.

Usage: cli_bad_input.py <recbandit binary> <work dir>
       cli_bad_input.py --markdown
"""
import os
import shutil
import struct
import subprocess
import sys

TIMEOUT = 60
MAX_STDERR = 600
LONG = "x" * 10000


def write(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def model_copy(name, damage):
    """A copy of the trained model `m` as `name`, damaged by damage(dir)."""
    shutil.copytree("m", name)
    damage(name)


def flip_byte(path, offset):
    data = bytearray(open(path, "rb").read())
    data[offset] ^= 0xFF
    write(path, bytes(data))


def truncate(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def symlink_to_dev_zero(path):
    os.remove(path)
    os.symlink("/dev/zero", path)


def npy(descr, fortran_order, shape, data):
    """A .npy file (format 1.0) as np.save writes it, without NumPy."""
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran_order, shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def floats(*values):
    return struct.pack("<%df" % len(values), *values)


def fixtures(binary):
    """Files the catalogue's commands read, made in the current folder."""
    run = lambda *args: subprocess.run([binary, *args], check=True, capture_output=True)
    run("gen", "interactions", "--users=200", "--items=100", "--nnz=3000", "--factors=4",
        "--seed=1", "--out=data.csv")
    run("train", "--input=data.csv", "--algo=als", "--factors=4", "--iterations=2", "--out=m")
    write("short_row.csv", "u1,i1\nu2,i2\nu3\n")
    write("typed.csv", "u1,i1,1,1,click\nu1,i2,1,2,purchase\nu2,i1,1,3,click\n")
    write("bad_type.csv", "u1,i1,1,1,click\nu2,i2,1,2,a b\n")
    write("negative_weight.csv", "u1,i1,1\nu2,i2,-1\n")
    write("nan_weight.csv", "u1,i1,nan\n")
    write("not_utf8.csv", b"u1,i1\nu2,i\xff\xfe\n")
    write("huge_timestamp.csv", "u1,i1,1,99999999999999999999\n")
    write("empty.csv", "")
    write("header_only.csv", "user,item,rating\n")
    write("binary.csv", bytes(range(256)) * 4)
    os.mkdir("a_folder")
    os.symlink("/dev/zero", "dev_zero.csv")
    model_copy("m_truncated", lambda d: truncate(d + "/item_factors.bin", 100))
    model_copy("m_flipped", lambda d: flip_byte(d + "/item_factors.bin", 40))
    model_copy("m_no_manifest", lambda d: os.remove(d + "/manifest"))
    model_copy("m_garbage_manifest", lambda d: write(d + "/manifest", b"\x00\xff garbage {{"))
    model_copy("m_dev_zero", lambda d: symlink_to_dev_zero(d + "/item_factors.bin"))
    model_copy("m_missing_file", lambda d: os.remove(d + "/users.txt"))
    write("a_file", "not a folder\n")
    header = ("event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,"
              "actions,chosen_index,chosen_action,propensity,pmf,reward,policy_spec,"
              "policy_version,shadow_pmfs\n")
    row = "e{0},x,v,{0},u,,,a;b,0,a,{1},{1};{2},1,uniform,0,\n"
    write("log_ok.csv", header + row.format(1, 0.5, 0.5))
    write("log_zero_propensity.csv", header + row.format(1, 0.5, 0.5) + row.format(2, 0, 1))
    write("log_short_row.csv", header + "e1,x,v\n")
    write("log_bad.jsonl", '{"event_id":"e1",\n')
    write("cert.pem", "not a certificate\n")
    # recbandit import: 3 users and 4 items of 2 factors, then damaged copies
    users = npy("<f4", "False", "(3, 2)", floats(1, 0, 0, 1, 1, 1))
    write("f_users.npy", users)
    write("f_items.npy", npy("<f4", "False", "(4, 2)", floats(1, 2, 3, 4, 5, 6, 7, 8)))
    write("f_users.txt", "u1\nu2\nu3\n")
    write("f_items.txt", "i1\ni2\ni3\ni4\n")
    write("f_truncated.npy", users[:-4])
    write("f_npz.npy", b"PK\x03\x04" + users)
    write("f_header_past_end.npy", users[:8] + b"\xff\xff" + users[10:])
    write("f_fortran.npy", npy("<f4", "True", "(3, 2)", floats(1, 0, 0, 1, 1, 1)))
    write("f_big_endian.npy", npy(">f4", "False", "(3, 2)", floats(1, 0, 0, 1, 1, 1)))
    write("f_object.npy", npy("|O", "False", "(3, 2)", floats(1, 0, 0, 1, 1, 1)))
    write("f_3d.npy", npy("<f4", "False", "(3, 1, 2)", floats(1, 0, 0, 1, 1, 1)))
    write("f_huge.npy", npy("<f4", "False", "(2147483647, 1024)", floats(1, 0, 0, 1, 1, 1)))
    write("f_items3.npy", npy("<f4", "False", "(4, 3)", floats(*range(12))))
    write("f_nan.csv", "1,0\nnan,1\n1,1\n")
    write("f_dup.txt", "u1\nu2\nu1\n")


def import_argv(users, items="f_items.npy", user_ids="f_users.txt"):
    """argv of `recbandit import` with user factors `users` (the rest good)."""
    return ["import", "--user_factors=" + users, "--item_factors=" + items,
            "--user_ids=" + user_ids, "--item_ids=f_items.txt", "--out=o"]


# (input, argv, exit code, stderr starts with). argv runs in the work folder.
CATALOGUE = [
    # --- commands and flags
    ("no command", [], 2, "recbandit: recommendation and bandit experimentation."),
    ("unknown command", ["bogus"], 2, "recbandit: unknown command 'bogus' (commands: gen,"),
    ("a flag of another command", ["split", "--input=data.csv", "--algo=bpr"], 2,
     "recbandit split: --algo is not a flag of `recbandit split`"),
    ("a misspelt flag", ["split", "--inptu=data.csv"], 2,
     "recbandit split: unknown flag '--inptu'; did you mean --input?"),
    ("a number flag that is not a number", ["train", "--input=data.csv", "--factors=abc",
                                            "--out=o"], 2,
     "recbandit train: --factors='abc' is not a 32-bit integer"),
    ("factors 0", ["train", "--input=data.csv", "--factors=0", "--out=o"], 1,
     "recbandit train: --factors = 0 must be >= 1"),
    ("ALS alpha -2", ["train", "--input=data.csv", "--alpha=-2", "--out=o"], 1,
     "recbandit train: ALS alpha = -2 is out of range (> 0)"),
    ("unknown algo", ["train", "--input=data.csv", "--algo=svd", "--out=o"], 1,
     "recbandit train: --algo must be als or bpr, got 'svd'"),
    ("gen: 0 users", ["gen", "interactions", "--users=0", "--out=o.csv"], 1,
     "recbandit gen interactions: --users must be >= 1"),
    ("iterations 0", ["train", "--input=data.csv", "--iterations=0", "--out=o"], 1,
     "recbandit train: --iterations = 0 must be >= 1"),
    ("gates: a holdout fraction above 0.5", ["train", "--input=data.csv",
                                             "--holdout_fraction=0.9", "--out=o"], 1,
     "recbandit train: --holdout_fraction = 0.9 is out of range ((0, 0.5])"),
    ("gates: an unknown holdout scheme", ["train", "--input=data.csv", "--holdout=random",
                                          "--out=o"], 1,
     "recbandit train: --holdout must be time or user_holdout, got \"random\""),
    ("gates: a negative tolerance", ["train", "--input=data.csv", "--gate_ndcg_tolerance=-1",
                                     "--out=o"], 1,
     "recbandit train: --gate_ndcg_tolerance = -1 must be a finite number >= 0"),
    ("gates: index recall without an index", ["train", "--input=data.csv",
                                              "--gate_min_index_recall=0.9", "--out=o"], 1,
     "recbandit train: --gate_min_index_recall needs an item index (--index)"),
    ("gates: --compare_to a missing model", ["train", "--input=data.csv", "--compare_to=nope",
                                             "--gate_ndcg_tolerance=0", "--out=o"], 1,
     "recbandit train: nope: no such model directory"),
    ("a number flag beyond its type", ["gen", "interactions", "--users=99999999999",
                                       "--out=o.csv"], 2,
     "recbandit gen interactions: --users='99999999999' is not a 32-bit integer"),
    ("a flag value of 10 KB (not echoed)", ["simulate", "--horizon=" + LONG], 2,
     "recbandit simulate: --horizon='xxxxxxxx"),
    # --- interactions files
    ("missing file", ["split", "--input=missing.csv", "--train_out=a", "--test_out=b"], 1,
     "recbandit split: cannot open missing.csv: No such file or directory"),
    ("a folder as input", ["split", "--input=a_folder", "--train_out=a", "--test_out=b"], 1,
     "recbandit split: a_folder is a directory"),
    ("/dev/zero as input (must not hang)",
     ["split", "--input=dev_zero.csv", "--train_out=a", "--test_out=b"], 1,
     "recbandit split: dev_zero.csv is not a regular file"),
    ("a row with one field", ["split", "--input=short_row.csv", "--train_out=a",
                              "--test_out=b"], 1,
     "recbandit split: short_row.csv:3: expected 2 to 5 fields"),
    ("a negative weight", ["train", "--input=negative_weight.csv", "--out=o"], 1,
     "recbandit train: negative_weight.csv:2: weight -1 is negative (must be >= 0)"),
    ("a NaN weight", ["train", "--input=nan_weight.csv", "--out=o"], 1,
     "recbandit train: nan_weight.csv:1: weight 'nan' is not a finite number"),
    ("an id that is not UTF-8", ["train", "--input=not_utf8.csv", "--out=o"], 1,
     "recbandit train: not_utf8.csv:2: item id 'i\\xff\\xfe' is not valid UTF-8"),
    ("a timestamp beyond int64", ["train", "--input=huge_timestamp.csv", "--out=o"], 1,
     "recbandit train: huge_timestamp.csv:1: timestamp"),
    ("an empty file", ["train", "--input=empty.csv", "--out=o"], 1,
     "recbandit train: empty.csv: no interactions"),
    ("a header and no rows", ["train", "--input=header_only.csv", "--out=o"], 1,
     "recbandit train: header_only.csv: no interactions (its one line was read as a header"),
    ("binary bytes", ["train", "--input=binary.csv", "--out=o"], 1,
     "recbandit train: binary.csv:1: empty item id"),
    ("a 10 KB path (not echoed)", ["split", "--input=" + LONG, "--train_out=a",
                                   "--test_out=b"], 1, "recbandit split: cannot open 'xxxxxxxx"),
    # --- index factory strings
    ("index HNSW0", ["train", "--input=data.csv", "--index=HNSW0", "--out=o"], 1,
     "recbandit train: --index: index factory 'HNSW0': HNSW's M must be in [4, 128], got 0"),
    ("index IVF0,Flat", ["index", "--model=m", "--index=IVF0,Flat"], 1,
     "recbandit index: index factory 'IVF0,Flat': IVF's nlist must be in [1, 65536], got 0"),
    ("index IVF99999,Flat on 100 items", ["index", "--model=m", "--index=IVF99999,Flat"], 1,
     "recbandit index: index factory 'IVF99999,Flat': IVF's nlist must be in [1, 65536]"),
    ("index PQ3 on 4 factors", ["index", "--model=m", "--index=PQ3"], 1,
     "recbandit index: index factory 'PQ3': PQ's m must divide the dimension 4, got 3"),
    ("an unknown index kind", ["index", "--model=m", "--index=LSH"], 1,
     "recbandit index: index factory 'LSH': unknown index kind (accepted: Exact,"),
    ("an 8 KB index string (not echoed)", ["index", "--model=m", "--index=" + LONG], 1,
     "recbandit index: index factory 'xxxxxxxx"),
    # --- model folders
    ("a model folder that does not exist", ["recommend", "--model=missing", "--user=u1"], 1,
     "recbandit recommend: missing: no such model directory"),
    ("a truncated factor file", ["recommend", "--model=m_truncated", "--user=u1"], 1,
     "recbandit recommend: m_truncated/item_factors.bin: truncated or resized: 100 bytes, "
     "manifest says 1600"),
    ("a flipped byte in a factor file", ["recommend", "--model=m_flipped", "--user=u1"], 1,
     "recbandit recommend: m_flipped/item_factors.bin: checksum mismatch"),
    ("no manifest", ["recommend", "--model=m_no_manifest", "--user=u1"], 1,
     "recbandit recommend: m_no_manifest/manifest: missing or unreadable"),
    ("a garbage manifest", ["recommend", "--model=m_garbage_manifest", "--user=u1"], 1,
     "recbandit recommend: m_garbage_manifest/manifest: not a valid manifest"),
    ("a factor file linked to /dev/zero (must not hang)",
     ["recommend", "--model=m_dev_zero", "--user=u1"], 1,
     "recbandit recommend: m_dev_zero/item_factors.bin: missing or unreadable: "
     "m_dev_zero/item_factors.bin is not a regular file"),
    ("a model file missing", ["similar", "--model=m_missing_file", "--item=i1"], 1,
     "recbandit similar: m_missing_file/users.txt: missing or unreadable"),
    ("k 0", ["recommend", "--model=m", "--user=u1", "--k=0"], 1,
     "recbandit recommend: --k = 0 is out of range (1..1000)"),
    ("an unknown item", ["similar", "--model=m", "--item=nope"], 1,
     "recbandit similar: unknown item 'nope'"),
    ("evaluate: a missing test file", ["evaluate", "--model=m", "--train=data.csv",
                                       "--test=missing.csv"], 1,
     "recbandit evaluate: cannot open missing.csv: No such file or directory"),
    ("train: an event type with a space", ["train", "--input=bad_type.csv", "--out=o_t"], 1,
     "recbandit train: bad_type.csv:2: event_type 'a b' may only contain [A-Za-z0-9_.-]"),
    ("train: a weight for a type the input lacks", ["train", "--input=typed.csv",
                                                    "--out=o_t", "--event_weights=clik=2"], 1,
     "recbandit train: event type 'clik' has a weight but typed.csv has only click, purchase"),
    ("train: a negative event weight", ["train", "--input=typed.csv", "--out=o_t",
                                        "--event_weights=click=-1"], 1,
     "recbandit train: --event_weights: the weight of 'click' must be a finite number >= 0, "
     "got '-1'"),
    ("train: an event weight without '='", ["train", "--input=typed.csv", "--out=o_t",
                                             "--event_weights=click"], 1,
     "recbandit train: --event_weights: expected type=weight, got 'click'"),
    ("train: --min_weight -1", ["train", "--input=typed.csv", "--out=o_t", "--min_weight=-1"], 1,
     "recbandit train: --min_weight = -1 must be a finite number >= 0"),
    ("train: --min_weight above every weight", ["train", "--input=typed.csv", "--out=o_t",
                                                "--min_weight=100"], 1,
     "recbandit train: typed.csv: no interactions left after min_weight 100"),
    ("evaluate: --by_event_type on a file without types",
     ["evaluate", "--model=m", "--train=data.csv", "--test=data.csv", "--by_event_type"], 1,
     "recbandit evaluate: data.csv: no event types (a fifth column) to report metrics by"),
    ("evaluate: a cut-off of 0 in --metrics_k", ["evaluate", "--model=m", "--train=data.csv",
                                                 "--test=data.csv", "--metrics_k=5,0"], 1,
     "recbandit evaluate: --metrics_k: each cut-off must be an integer in 1..1000, got '0'"),
    ("train: a 10 KB --metrics_k (not echoed)", ["train", "--input=data.csv", "--out=o_mk",
                                                 "--metrics_k=" + LONG], 1,
     "recbandit train: --metrics_k: each cut-off must be an integer in 1..1000, got 'xxxxxxxx"),
    # --- import (factors trained elsewhere)
    ("import: a flag missing", ["import", "--user_factors=f_users.npy", "--out=o"], 1,
     "recbandit import: --user_factors, --item_factors, --user_ids, --item_ids and --out are "
     "required"),
    ("import: a truncated .npy", import_argv("f_truncated.npy"), 1,
     "recbandit import: f_truncated.npy: truncated: the data is 20 bytes, header field 'shape' "
     "(3, 2) of '<f4' needs 24"),
    ("import: an .npz (zip) as .npy", import_argv("f_npz.npy"), 1,
     "recbandit import: f_npz.npy: not a NumPy .npy file (bad magic"),
    ("import: a header length beyond the file", import_argv("f_header_past_end.npy"), 1,
     "recbandit import: f_header_past_end.npy: header length 65535 runs past the end of the "
     "file"),
    ("import: Fortran order", import_argv("f_fortran.npy"), 1,
     "recbandit import: f_fortran.npy: header field 'fortran_order' is True: Fortran "
     "(column-major) order is not read"),
    ("import: big-endian floats", import_argv("f_big_endian.npy"), 1,
     "recbandit import: f_big_endian.npy: header field 'descr' is '>f4', big-endian"),
    ("import: an object array", import_argv("f_object.npy"), 1,
     "recbandit import: f_object.npy: header field 'descr' is '|O', an object array"),
    ("import: a 3-D array", import_argv("f_3d.npy"), 1,
     "recbandit import: f_3d.npy: header field 'shape' is '(3, 1, 2)', a 3-D array"),
    ("import: a huge declared shape", import_argv("f_huge.npy"), 1,
     "recbandit import: f_huge.npy: truncated: the data is 24 bytes, header field 'shape' "
     "(2147483647, 1024) of '<f4' needs 8796093018112"),
    ("import: rows and ids disagree", import_argv("f_users.npy", user_ids="f_items.txt"), 1,
     "recbandit import: f_users.npy: 3 rows, but f_items.txt has 4 user ids"),
    ("import: dimensions disagree", import_argv("f_users.npy", items="f_items3.npy"), 1,
     "recbandit import: f_items3.npy: 3 factors (columns), but f_users.npy has 2"),
    ("import: a NaN factor", import_argv("f_nan.csv"), 1,
     "recbandit import: f_nan.csv:2: value 1 'nan' is not a finite number"),
    ("import: a duplicate id", import_argv("f_users.npy", user_ids="f_dup.txt"), 1,
     "recbandit import: f_dup.txt:3: duplicate user id 'u1' (first on line 1)"),
    ("import: /dev/zero as factors (must not hang)", import_argv("dev_zero.csv"), 1,
     "recbandit import: dev_zero.csv is not a regular file"),
    # --- event logs
    ("export: no event log", ["export", "--data_dir=missing", "--experiment=x",
                              "--out=o.csv"], 1, "recbandit export: no event log at missing/events"),
    ("export: a file as data dir", ["export", "--data_dir=a_file", "--experiment=x",
                                    "--out=o.csv"], 1,
     "recbandit export: no event log at a_file/events"),
    ("export: format xml", ["export", "--data_dir=missing", "--experiment=x",
                            "--format=xml", "--out=o"], 1,
     "recbandit export: --format must be csv or jsonl, got 'xml'"),
    ("export: both an experiment and a deployment",
     ["export", "--data_dir=missing", "--experiment=x", "--deployment=y", "--out=o"], 1,
     "recbandit export: --data_dir, --out and one of --experiment or --deployment are required"),
    ("monitor: no subject", ["monitor", "--data_dir=missing"], 1,
     "recbandit monitor: --data_dir and one of --model (a model name in the data directory) or "
     "--experiment are required"),
    ("monitor: psi alert 0", ["monitor", "--data_dir=missing", "--model=m",
                              "--drift_psi_alert=0"], 1,
     "recbandit monitor: --drift_psi_alert must be in (0, 10], got 0"),
    ("monitor: warn above alert", ["monitor", "--data_dir=missing", "--model=m",
                                   "--drift_psi_warn=0.5"], 1,
     "recbandit monitor: --drift_psi_warn must be <= --drift_psi_alert (0.2), got 0.5"),
    ("monitor: window 5", ["monitor", "--data_dir=missing", "--model=m", "--drift_window=5"], 1,
     "recbandit monitor: --drift_window must be in [100, 1000000], got 5"),
    ("monitor: no event log", ["monitor", "--data_dir=missing", "--experiment=x"], 1,
     "recbandit monitor: no event log at missing/events"),
    # --- scale-out
    ("serve: --stream not a nats URL", ["serve", "--data_dir=d", "--stream=http://x:1",
                                        "--replica_id=a"], 1,
     "recbandit serve: --stream: entry 1 'http://x:1' is not nats://host:port"),
    ("serve: --stream without --replica_id", ["serve", "--data_dir=d",
                                              "--stream=nats://127.0.0.1:1"], 1,
     "recbandit serve: --replica_id must be 1..64 characters of [A-Za-z0-9_-], got ''"),
    ("serve: --replica_id with a space", ["serve", "--data_dir=d", "--stream=nats://127.0.0.1:1",
                                          "--replica_id=a b"], 1,
     "recbandit serve: --replica_id must be 1..64 characters of [A-Za-z0-9_-], got 'a b'"),
    ("serve: --replica_id without --stream", ["serve", "--data_dir=d", "--replica_id=a"], 1,
     "recbandit serve: --replica_id needs --stream"),
    ("serve: --stream_ack maybe", ["serve", "--data_dir=d", "--stream=nats://127.0.0.1:1",
                                   "--replica_id=a", "--stream_ack=maybe"], 1,
     "recbandit serve: --stream_ack must be local or stream, got 'maybe'"),
    ("serve: --stream_replicas 7", ["serve", "--data_dir=d", "--stream=nats://127.0.0.1:1",
                                    "--replica_id=a", "--stream_replicas=7"], 1,
     "recbandit serve: --stream_replicas must be in [1, 5], got 7"),
    ("stream: no --stream", ["stream"], 1, "recbandit stream: --stream is required"),
    ("stream: port not a number", ["stream", "--stream=nats://127.0.0.1:x"], 1,
     "recbandit stream: --stream: entry 1 'nats://127.0.0.1:x' is not nats://host:port"),
    ("log repair: no event log", ["log", "repair", "--data_dir=missing"], 1,
     "recbandit log repair: no event log at missing/events"),
    # --- OPE inputs
    ("ope: a missing input", ["ope", "--input=missing.csv", "--target=uniform"], 1,
     "recbandit ope: cannot open missing.csv: No such file or directory"),
    ("ope: a zero propensity", ["ope", "--input=log_zero_propensity.csv", "--target=uniform"],
     1, "recbandit ope: log_zero_propensity.csv:3: field propensity: propensity is zero"),
    ("ope: a short row", ["ope", "--input=log_short_row.csv", "--target=uniform"], 1,
     "recbandit ope: log_short_row.csv:2: expected 16 fields, got 3"),
    ("ope: a broken JSON line", ["ope", "--input=log_bad.jsonl", "--target=uniform"], 1,
     "recbandit ope: log_bad.jsonl:1: not a JSON row of the export: Unexpected end of string"),
    ("ope: an unknown target", ["ope", "--input=log_ok.csv", "--target=bogus"], 1,
     "recbandit ope: unknown target 'bogus' (use uniform, shadow:<spec>,"),
    ("ope: an unknown estimator", ["ope", "--input=log_ok.csv", "--target=uniform",
                                   "--estimators=magic"], 1,
     "recbandit ope: unknown estimator 'magic'"),
    ("ope: bootstrap -1", ["ope", "--input=log_ok.csv", "--target=uniform",
                           "--bootstrap=-1"], 1, "recbandit ope: --bootstrap must be >= 0"),
    # --- simulate, loadtest, serve
    ("simulate: unknown env", ["simulate", "--env=nope"], 1,
     "recbandit simulate: unknown --env 'nope'"),
    ("simulate: horizon 0", ["simulate", "--horizon=0"], 1,
     "recbandit simulate: --horizon must be in"),
    ("simulate: a bad policy spec", ["simulate", "--policies=epsilon_greedy:epsilon=2"], 1,
     "recbandit simulate: policy epsilon_greedy: epsilon=2 must be a number in [0, 1]"),
    ("loadtest: unknown rpc", ["loadtest", "--rpc=nope"], 1,
     "recbandit loadtest: --rpc must be recommend, decide or mixed, got 'nope'"),
    ("loadtest: concurrency 0", ["loadtest", "--concurrency=0"], 1,
     "recbandit loadtest: --concurrency must be in [1, 10000], got 0"),
    ("loadtest: objective 0 ms", ["loadtest", "--slo_p99_ms=0"], 1,
     "recbandit loadtest: --slo_p99_ms must be a finite number of milliseconds in (0, 10000]"),
    ("loadtest: objective NaN", ["loadtest", "--slo_p99_ms=nan"], 1,
     "recbandit loadtest: --slo_p99_ms must be a finite number of milliseconds in (0, 10000] "
     "(calls time out at 10 s), got nan"),
    ("loadtest: target QPS -5", ["loadtest", "--slo_p99_ms=10", "--target_qps=-5"], 1,
     "recbandit loadtest: --target_qps must be a finite number in (0, 1e9], got -5"),
    ("loadtest: target QPS without a ramp", ["loadtest", "--target_qps=100"], 1,
     "recbandit loadtest: --target_qps needs --slo_p99_ms (the capacity ramp)"),
    ("loadtest: --concurrency with a ramp", ["loadtest", "--slo_p99_ms=10", "--concurrency=4"], 1,
     "recbandit loadtest: --concurrency does not apply with --slo_p99_ms: the ramp sets the "
     "concurrency"),
    ("loadtest: max concurrency 0", ["loadtest", "--slo_p99_ms=10", "--max_concurrency=0"], 1,
     "recbandit loadtest: --max_concurrency must be in [1, 10000], got 0"),
    ("loadtest: step duration 0", ["loadtest", "--slo_p99_ms=10", "--step_duration_s=0"], 1,
     "recbandit loadtest: --step_duration_s must be in (0, 600], got 0"),
    ("loadtest: headroom 1", ["loadtest", "--slo_p99_ms=10", "--target_qps=100",
                              "--headroom=1"], 1,
     "recbandit loadtest: --headroom must be in [0, 1), got 1"),
    ("loadtest: server cores 0", ["loadtest", "--slo_p99_ms=10", "--server_cores=0"], 1,
     "recbandit loadtest: --server_cores must be in [1, 4096], got 0"),
    ("loadtest: a curve in a missing folder", ["loadtest", "--slo_p99_ms=10",
                                               "--curve_out=missing/curve.csv"], 1,
     "recbandit loadtest: --curve_out: no such directory 'missing'"),
    ("serve: port 99999", ["serve", "--port=99999", "--data_dir=d"], 1,
     "recbandit serve: --port must be in [0, 65535], got 99999"),
    ("serve: http_port 70000", ["serve", "--port=0", "--data_dir=d", "--http_port=70000"], 1,
     "recbandit serve: --http_port must be in [-1, 65535] (0 = off, -1 = any free port), got 70000"),
    ("serve: http_port -2", ["serve", "--port=0", "--data_dir=d", "--http_port=-2"], 1,
     "recbandit serve: --http_port must be in [-1, 65535] (0 = off, -1 = any free port), got -2"),
    ("serve: a file as data dir", ["serve", "--port=0", "--data_dir=a_file"], 1,
     "recbandit serve: not a directory: a_file"),
    ("serve: a certificate that is not PEM", ["serve", "--port=0", "--data_dir=d",
                                              "--tls_cert=cert.pem", "--tls_key=cert.pem"], 1,
     "recbandit serve: cert.pem: not a PEM certificate"),
    ("serve: keep_versions 0", ["serve", "--port=0", "--data_dir=d", "--keep_versions=0"], 1,
     "recbandit serve: --keep_versions must be in [1, 1000], got 0"),
    ("serve: model_memory_budget -5", ["serve", "--port=0", "--data_dir=d",
                                       "--model_memory_budget=-5"], 1,
     "recbandit serve: --model_memory_budget must be a byte count with an optional K, M, G or T suffix"),
    ("serve: model_memory_budget 3P", ["serve", "--port=0", "--data_dir=d",
                                       "--model_memory_budget=3P"], 1,
     "recbandit serve: --model_memory_budget must be a byte count with an optional K, M, G or T suffix"),
    ("serve: model_memory_budget above 2^50", ["serve", "--port=0", "--data_dir=d",
                                               "--model_memory_budget=2048T"], 1,
     "recbandit serve: --model_memory_budget must be a byte count with an optional K, M, G or T suffix"),
]


def markdown():
    print("| input | command | exit | stderr starts with |")
    print("|---|---|---|---|")
    for label, argv, code, start in CATALOGUE:
        command = " ".join(a for a in argv[:2] if not a.startswith("--")) or "(none)"
        code_span = "`` %s ``" if "`" in start else "`%s`"
        print(("| %s | %s | %d | " + code_span + " |") % (label.replace("|", "\\|"), command,
                                                         code, start.replace("|", "\\|")))


def main():
    if sys.argv[1] == "--markdown":
        markdown()
        return
    binary, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    discover = len(sys.argv) > 3 and sys.argv[3] == "--discover"
    os.chdir(work)
    fixtures(binary)
    failures = []
    for label, argv, code, start in CATALOGUE:
        try:
            proc = subprocess.run([binary, *argv], capture_output=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            failures.append("%s: no answer in %d s (hang)" % (label, TIMEOUT))
            continue
        err = proc.stderr.decode("utf-8", "replace")
        lines = err.splitlines()
        if discover:
            print("%-45s %d %s" % (label, proc.returncode, err.strip()[:200]))
            continue
        problem = None
        if proc.returncode < 0:
            problem = "killed by signal %d" % -proc.returncode
        elif proc.returncode != code:
            problem = "exit %d, expected %d" % (proc.returncode, code)
        elif len(lines) != 1 and not (code == 2 and not argv):
            problem = "%d stderr lines, expected 1" % len(lines)
        elif not err.startswith(start):
            problem = "stderr does not start with %r" % start
        elif len(proc.stderr) > MAX_STDERR and argv:
            problem = "stderr of %d bytes" % len(proc.stderr)
        elif proc.stdout:
            problem = "printed on stdout: %r" % proc.stdout[:200]
        if problem:
            failures.append("%s (recbandit %s): %s\n  stderr: %s" %
                            (label, " ".join(a[:60] for a in argv), problem, err[:400]))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("ok: %d bad CLI inputs, each its code and one-line message" % len(CATALOGUE))


if __name__ == "__main__":
    main()

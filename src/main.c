/*
 * main.c -- the twscope command line: analyze | capture | query | report.
 * Exit codes: 0 success, 1 error (bad input, I/O, database), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twscope/analyzer.h"
#include "twscope/annotate.h"
#include "twscope/capture.h"
#include "twscope/config.h"
#include "twscope/explain.h"
#include "twscope/metrics.h"
#include "twscope/outfile.h"
#include "twscope/pcapng_write.h"
#include "twscope/report.h"
#include "twscope/report_html.h"
#include "twscope/store.h"
#include "twscope/timewait.h"

#define EXIT_USAGE 2

static void usage_main(FILE *f)
{
    fprintf(f,
            "twscope %s -- TCP TIME_WAIT analyzer for packet captures\n"
            "\n"
            "Usage:\n"
            "  twscope analyze [options] FILE... [BPF expression]\n"
            "  twscope capture -i IFACE [options] [BPF expression]\n"
            "  twscope capture -D\n"
            "  twscope query DB REPORT [--format table|csv|json]\n"
            "  twscope query DB sql \"SELECT ...\"\n"
            "  twscope report DB [-o report.html]\n"
            "  twscope explain DB (CONN_ID | IP:PORT-IP:PORT)\n"
            "  twscope annotate DB -o OUT [--capture ID] [--file N] [--merge]\n"
            "  twscope merge -o OUT.db DB...\n"
            "  twscope --help | --version\n"
            "\n"
            "Commands:\n"
            "  analyze   read pcap/pcapng files (gzip too, '-' = stdin) into a SQLite database\n"
            "  capture   analyze live traffic of an interface into a SQLite database\n"
            "  query     print a report of a database: summary, connections, timewaits,\n"
            "            findings, reuse, ports, timeline, or the result of a read-only\n"
            "            SQL statement\n"
            "  report    write a self-contained HTML report (charts and tables) of a database\n"
            "  explain   one 4-tuple's story: its incarnations, packets, TIME_WAIT periods\n"
            "            and findings as a ladder diagram, with cause and effect in words\n"
            "  annotate  write a pcapng copy of the analyzed capture with the findings,\n"
            "            TIME_WAIT starts/ends and new incarnations as packet comments\n"
            "  merge     combine databases (shards of one capture, or other sensors) into a new one\n"
            "\n"
            "Run 'twscope COMMAND --help' for the options of a command.\n",
            TWSCOPE_VERSION);
}

static void usage_analyze(FILE *f, int live)
{
    if (live)
        fprintf(f, "Usage: twscope capture -i IFACE [options] [BPF expression]\n"
                   "       twscope capture -D     (list interfaces)\n\n"
                   "Analyze live traffic. Stops on SIGINT/SIGTERM, --duration or --count;\n"
                   "what is still open is written with close_kind 'open' and TIME_WAIT\n"
                   "end_reason 'capture_end', ended at the stop time. Rows and the captures\n"
                   "counters are committed at least once a second; a TIME_WAIT period is a\n"
                   "row within a second of its start (end_ts NULL, end_reason 'open' until\n"
                   "it ends).\n"
                   "'twscope: capturing on IFACE into DB' is printed once the interface is\n"
                   "open; on a terminal a status line follows (packets, connections,\n"
                   "TIME_WAIT now, drops), unless -q.\n\n"
                   "  -i, --interface IFACE  interface to capture on ('any' works)\n"
                   "  -D, --list-interfaces  list interfaces and exit\n"
                   "      --duration S       stop after S seconds\n"
                   "      --count N          stop after N packets\n"
                   "      --snaplen N        bytes captured per packet (default 262144)\n"
                   "      --buffer MB        kernel capture buffer size\n"
                   "      --promisc          promiscuous mode\n"
                   "  -w, --write FILE       also write every captured packet to FILE (pcapng):\n"
                   "                         the frame numbers of the database are its frames;\n"
                   "                         an existing FILE is replaced only if it is empty or\n"
                   "                         a pcapng file twscope wrote\n"
                   "      --metrics [ADDR]:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
                   "                         (OpenMetrics if the Accept header asks; ':PORT' =\n"
                   "                         127.0.0.1; [IPV6]:PORT)\n"
                   "      --metrics-top K    series per local address, remote endpoint and pair:\n"
                   "                         the top K (default 10), the rest summed as 'other'\n"
                   "      --alert-port-use PCT  one stderr line (and gauge twscope_port_use_alert)\n"
                   "                         when one (local address, remote address:port) pair\n"
                   "                         holds PCT %% of the ephemeral range in TIME_WAIT\n"
                   "      --port-range LO-HI ephemeral range for port use (default 32768-60999)\n");
    else
        fprintf(f, "Usage: twscope analyze [options] FILE... [BPF expression]\n\n"
                   "Reconstruct every TCP connection of the capture files (pcap or pcapng,\n"
                   "gzip-compressed or not, '-' for stdin) into a SQLite database. Several\n"
                   "files are merged by timestamp into one timeline. Arguments after the\n"
                   "files that are not files form a BPF filter, as with tcpdump.\n\n");
    fprintf(f, "  -o, --output DB        database file (default %s); an existing database\n"
               "                         gets a new capture added; a file that is not a\n"
               "                         twscope database is refused and left as it is\n"
               "      --overwrite        empty the (twscope) database first\n"
               "%s"
               "  -f, --filter BPF       only analyze packets matching this BPF filter (frame\n"
               "                         numbers stay those of the file)\n"
               "      --no-dpi           do not classify applications with nDPI\n"
               "      --ignore-vlan      the same 4-tuple on different VLANs is one connection\n"
               "      --tw-profile P     2*MSL of TIME_WAIT: linux (60 s, default), freebsd (60),\n"
               "                         macos (30), windows (240), rfc9293 (240), or auto (per\n"
               "                         host from its initial TTL and SYN options)\n"
               "      --tw-seconds N     2*MSL of N seconds (overrides --tw-profile)\n"
               "      --max-flows N      connections tracked at once (default %d); the least\n"
               "                         recently active is evicted and counted beyond it\n"
               "      --idle-timeout S   forget open connections idle for S seconds (default %d)\n"
               "  -q, --quiet            no progress display and no closing summary line\n"
               "  -v, --verbose          also print the time spent in each phase\n"
               "  -h, --help             this help\n",
            TWSCOPE_DEFAULT_DB,
            live ? "" : "      --append           analyze a file again although this database already\n"
                        "                         holds it (same size and fingerprint); without it,\n"
                        "                         that is refused, so counts are not doubled\n"
                        "      --shard K/N        only the connections of shard K of N (1 <= K <= N):\n"
                        "                         a fixed symmetric hash of the connection key picks\n"
                        "                         the shard; frames that are not TCP count in shard 1;\n"
                        "                         'twscope merge' joins the N databases into one\n"
                        "  -j, --jobs N           N analysis threads, each with its own flow table,\n"
                        "                         TIME_WAIT engine and nDPI (by a hash of the\n"
                        "                         connection key); the rows are those of -j 1 (the\n"
                        "                         default, one thread) but for the ids\n"
                        "      --per-file         each file is a capture of its own (capture points\n"
                        "                         whose clocks differ); by default the files are one\n"
                        "                         capture, and a segment seen in two of them within\n"
                        "                         100 ms counts once (vantage_dups)\n",
            FLOW_DEFAULT_MAX, FLOW_IDLE_TIMEOUT_SEC);
}

static void usage_query(FILE *f)
{
    fprintf(f, "Usage: twscope query DB REPORT [--format table|csv|json]\n"
               "       twscope query DB ports [--port-range LO-HI]\n"
               "       twscope query DB timeline [--bucket SECONDS] [--by side|host|app]\n"
               "       twscope query DB sql \"SELECT ...\" [--format ...]\n\n"
               "Reports:\n"
               "  summary      captures, connections by close kind and active closer,\n"
               "               TIME_WAIT periods by side and end reason, findings by kind\n"
               "  connections  one row per connection (incarnation)\n"
               "  timewaits    one row per endpoint that entered TIME_WAIT\n"
               "  findings     FIN/final-ACK retransmissions, late segments, reuse, RSTs,\n"
               "               with frame numbers and a Wireshark display filter\n"
               "  reuse        4-tuples reused by a new incarnation, with the gap\n"
               "  ports        port exhaustion: per (client IP, server IP:port) the peak of\n"
               "               4-tuples tied up at once (open or client TIME_WAIT), when,\n"
               "               and the share of the ephemeral range (scope 'client'); per\n"
               "               server endpoint the peak of server-side TIME_WAITs\n"
               "               (scope 'server_tw')\n"
               "  timeline     per capture and time bucket, the most TIME_WAIT periods open\n"
               "               at once during the bucket (peak) and how many started\n"
               "  sql          run a read-only SQL statement (tables: captures, files,\n"
               "               connections, time_waits, findings; view findings_named)\n\n"
               "  -F, --format FMT     table (default), csv (RFC 4180) or json\n"
               "      --utc            instants (ts, *_ts, bucket_start, started_at columns) as\n"
               "                       UTC dates, to the microsecond (ISO 8601 in csv/json);\n"
               "                       default: seconds since the epoch, as stored\n"
               "      --local          the same in the local time zone (TZ)\n"
               "      --port-range R   ports: ephemeral range LO-HI (default %d-%d)\n"
               "      --bucket S       timeline: bucket width in seconds (default: a round\n"
               "                       width giving at most ~%d buckets per capture)\n"
               "      --by SERIES      timeline: one series per side (client/server), host\n"
               "                       (the IP in TIME_WAIT) or app (nDPI application)\n"
               "  -h, --help           this help\n",
            REPORT_PORT_LO_DEFAULT, REPORT_PORT_HI_DEFAULT, REPORT_TIMELINE_BUCKETS);
}

static int parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "twscope: %s: not a non-negative integer: '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < 0) {
        fprintf(stderr, "twscope: %s: not a non-negative number: '%s'\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int looks_like_path(const char *s)
{
    size_t n = strlen(s);
    static const char *const exts[] = {".pcap", ".pcapng", ".cap", ".gz", ".dmp", ".pcap.gz"};
    if (strchr(s, '/'))
        return 1;
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcmp(s + n - e, exts[i]) == 0)
            return 1;
    }
    return 0;
}

/* Join argv[from..] into one filter expression (caller frees). */
static char *join_args(char **argv, int from, int to)
{
    size_t len = 1;
    char *s;
    for (int i = from; i < to; i++)
        len += strlen(argv[i]) + 1;
    s = malloc(len);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int i = from; i < to; i++) {
        if (i > from)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

/* --port-range LO-HI for query and report; prints the error. */
static int parse_port_range(const char *arg, struct report_opts *ro)
{
    if (report_parse_port_range(arg, &ro->port_lo, &ro->port_hi) == 0)
        return 0;
    fprintf(stderr, "twscope: --port-range: want LO-HI with 1 <= LO <= HI <= 65535, not '%s'\n",
            arg);
    return -1;
}

/*
 * getopt is silent (opterr = 0, optstrings start with ':'): one line of our
 * own instead of getopt's two. opt is what getopt_long returned.
 */
static void bad_option(const char *cmd, int opt, char **argv)
{
    char shortopt[3] = {'-', (char)optopt, 0};
    const char *name = (optopt && optopt < 256) ? shortopt : argv[optind - 1];
    if (opt == ':')
        fprintf(stderr, "twscope: %s: option '%s' needs a value (see twscope %s --help)\n", cmd,
                argv[optind - 1], cmd);
    else
        fprintf(stderr, "twscope: %s: unknown option '%s' (see twscope %s --help)\n", cmd, name,
                cmd);
}

enum {
    OPT_OVERWRITE = 256, OPT_NO_DPI, OPT_IGNORE_VLAN, OPT_TW_PROFILE, OPT_TW_SECONDS,
    OPT_MAX_FLOWS, OPT_IDLE, OPT_DURATION, OPT_COUNT, OPT_SNAPLEN, OPT_BUFFER, OPT_PROMISC,
    OPT_APPEND, OPT_SHARD, OPT_METRICS, OPT_METRICS_TOP, OPT_ALERT_PORT_USE, OPT_CAP_PORT_RANGE, OPT_PER_FILE,
};

/* --shard K/N: 1 <= K <= N <= 1024. Prints the error. */
static int parse_shard(const char *s, uint32_t *k, uint32_t *n)
{
    unsigned long a, b;
    char *end;

    errno = 0;
    a = strtoul(s, &end, 10);
    if (!errno && end != s && *end == '/' && s[0] != '-' && end[1] != '-') {
        const char *t = end + 1;
        b = strtoul(t, &end, 10);
        if (!errno && end != t && !*end && b >= 1 && b <= 1024 && a >= 1 && a <= b) {
            *k = (uint32_t)a;
            *n = (uint32_t)b;
            return 0;
        }
    }
    fprintf(stderr, "twscope: --shard: want K/N with 1 <= K <= N <= 1024 (shards are "
                    "numbered from 1), not '%s'\n", s);
    return -1;
}

static int cmd_analyze(int argc, char **argv, int live)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"overwrite", no_argument, 0, OPT_OVERWRITE},
        {"append", no_argument, 0, OPT_APPEND},
        {"shard", required_argument, 0, OPT_SHARD},
        {"jobs", required_argument, 0, 'j'},
        {"per-file", no_argument, 0, OPT_PER_FILE},
        {"filter", required_argument, 0, 'f'},
        {"no-dpi", no_argument, 0, OPT_NO_DPI},
        {"ignore-vlan", no_argument, 0, OPT_IGNORE_VLAN},
        {"tw-profile", required_argument, 0, OPT_TW_PROFILE},
        {"tw-seconds", required_argument, 0, OPT_TW_SECONDS},
        {"max-flows", required_argument, 0, OPT_MAX_FLOWS},
        {"idle-timeout", required_argument, 0, OPT_IDLE},
        {"quiet", no_argument, 0, 'q'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {"interface", required_argument, 0, 'i'},
        {"list-interfaces", no_argument, 0, 'D'},
        {"duration", required_argument, 0, OPT_DURATION},
        {"count", required_argument, 0, OPT_COUNT},
        {"snaplen", required_argument, 0, OPT_SNAPLEN},
        {"buffer", required_argument, 0, OPT_BUFFER},
        {"promisc", no_argument, 0, OPT_PROMISC},
        {"write", required_argument, 0, 'w'},
        {"metrics", required_argument, 0, OPT_METRICS},
        {"metrics-top", required_argument, 0, OPT_METRICS_TOP},
        {"alert-port-use", required_argument, 0, OPT_ALERT_PORT_USE},
        {"port-range", required_argument, 0, OPT_CAP_PORT_RANGE},
        {0, 0, 0, 0},
    };
    struct analyze_opts o;
    const char *iface = NULL;
    char *filter_owned = NULL;
    int quiet = 0, list = 0, opt, rc, nfiles = 0;
    uint64_t v;
    double dv;

    memset(&o, 0, sizeof(o));
    o.db_path = TWSCOPE_DEFAULT_DB;
    o.dpi = 1;
    o.tw.profile = TW_DEFAULT_PROFILE;
    optind = 1;
    while ((opt = getopt_long(argc, argv, live ? "+:o:f:qvhi:Dw:" : "+:o:f:qvhj:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': o.db_path = optarg; break;
        case OPT_OVERWRITE: o.overwrite = 1; break;
        case OPT_APPEND:
            if (live) {
                bad_option("capture", opt, argv);
                return EXIT_USAGE;
            }
            o.append = 1;
            break;
        case 'j':
            if (live) {
                bad_option("capture", opt, argv);
                return EXIT_USAGE;
            }
            if (parse_u64("-j", optarg, &v))
                return EXIT_USAGE;
            if (v < 1 || v > ANALYZE_MAX_JOBS) {
                fprintf(stderr, "twscope: -j: from 1 to %d analysis threads, not '%s'\n",
                        ANALYZE_MAX_JOBS, optarg);
                return EXIT_USAGE;
            }
            o.jobs = (uint32_t)v;
            break;
        case OPT_SHARD:
            if (live) {
                bad_option("capture", opt, argv);
                return EXIT_USAGE;
            }
            if (parse_shard(optarg, &o.shard_k, &o.shard_n))
                return EXIT_USAGE;
            break;
        case OPT_PER_FILE:
            if (live) {
                bad_option("capture", opt, argv);
                return EXIT_USAGE;
            }
            o.per_file = 1;
            break;
        case 'f': o.bpf = optarg; break;
        case OPT_NO_DPI: o.dpi = 0; break;
        case OPT_IGNORE_VLAN: o.ignore_vlan = 1; break;
        case OPT_TW_PROFILE: {
            int p = tw_profile_parse(optarg);
            if (p < 0) {
                fprintf(stderr, "twscope: --tw-profile: unknown profile '%s' (linux, freebsd, "
                                "macos, windows, rfc9293, auto)\n", optarg);
                return EXIT_USAGE;
            }
            if (o.tw.profile != TWP_CUSTOM)
                o.tw.profile = (enum tw_profile_id)p;
            break;
        }
        case OPT_TW_SECONDS:
            if (parse_double("--tw-seconds", optarg, &dv) || dv <= 0) {
                if (dv <= 0)
                    fprintf(stderr, "twscope: --tw-seconds: must be > 0\n");
                return EXIT_USAGE;
            }
            o.tw.profile = TWP_CUSTOM;
            o.tw.custom_dur = (tw_time)(dv * TW_USEC);
            break;
        case OPT_MAX_FLOWS:
            if (parse_u64("--max-flows", optarg, &v) || v < 2) {
                if (v < 2)
                    fprintf(stderr, "twscope: --max-flows: must be at least 2\n");
                return EXIT_USAGE;
            }
            o.max_flows = v;
            break;
        case OPT_IDLE:
            if (parse_u64("--idle-timeout", optarg, &v) || v == 0) {
                fprintf(stderr, "twscope: --idle-timeout: must be a positive number of seconds\n");
                return EXIT_USAGE;
            }
            o.idle_timeout_s = (int64_t)v;
            break;
        case 'q': quiet = 1; break;
        case 'v': o.verbose = 1; break;
        case 'h': usage_analyze(stdout, live); return 0;
        case 'i': iface = optarg; break;
        case 'D': list = 1; break;
        case OPT_DURATION:
            if (parse_double("--duration", optarg, &o.duration_s))
                return EXIT_USAGE;
            break;
        case OPT_COUNT:
            if (parse_u64("--count", optarg, &o.count))
                return EXIT_USAGE;
            break;
        case OPT_SNAPLEN:
            if (parse_u64("--snaplen", optarg, &v) || v > 262144) {
                fprintf(stderr, "twscope: --snaplen: at most 262144\n");
                return EXIT_USAGE;
            }
            o.cap.snaplen = (int)v;
            break;
        case OPT_BUFFER:
            if (parse_u64("--buffer", optarg, &v) || v > 65536)
                return EXIT_USAGE;
            o.cap.buffer_mb = (int)v;
            break;
        case OPT_PROMISC: o.cap.promisc = 1; break;
        case 'w':
            if (!live) {
                bad_option("analyze", opt, argv);
                return EXIT_USAGE;
            }
            o.write_path = optarg;
            break;
        case OPT_METRICS: {
            char e[256];
            if (!live) {
                bad_option("analyze", opt, argv);
                return EXIT_USAGE;
            }
            if (metrics_parse_listen(optarg, e, sizeof(e))) {
                fprintf(stderr, "twscope: %s\n", e);
                return EXIT_USAGE;
            }
            o.metrics = optarg;
            break;
        }
        case OPT_METRICS_TOP:
            if (!live) {
                bad_option("analyze", opt, argv);
                return EXIT_USAGE;
            }
            if (parse_u64("--metrics-top", optarg, &v) || v < 1 || v > 1000) {
                if (v < 1 || v > 1000)
                    fprintf(stderr, "twscope: --metrics-top: want 1 to 1000, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.metrics_top = (unsigned)v;
            break;
        case OPT_ALERT_PORT_USE:
            if (!live) {
                bad_option("analyze", opt, argv);
                return EXIT_USAGE;
            }
            if (parse_double("--alert-port-use", optarg, &dv) || dv <= 0 || dv > 100) {
                if (dv <= 0 || dv > 100)
                    fprintf(stderr, "twscope: --alert-port-use: want a percentage above 0 and "
                                    "at most 100, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            o.alert_port_use = dv;
            break;
        case OPT_CAP_PORT_RANGE:
            if (!live) {
                bad_option("analyze", opt, argv);
                return EXIT_USAGE;
            }
            if (report_parse_port_range(optarg, &o.port_lo, &o.port_hi)) {
                fprintf(stderr, "twscope: --port-range: want LO-HI with 1 <= LO <= HI <= 65535, "
                                "not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            bad_option(live ? "capture" : "analyze", opt, argv);
            return EXIT_USAGE;
        }
    }
    o.progress = !quiet && isatty(STDERR_FILENO);
    o.quiet = quiet;

    if (live) {
        if (list) {
            char err[256];
            if (capture_list_interfaces(stdout, err, sizeof(err))) {
                fprintf(stderr, "twscope: %s\n", err);
                return 1;
            }
            return 0;
        }
        if (!iface) {
            fprintf(stderr, "twscope: capture: -i IFACE is required (twscope capture -D lists them)\n");
            return EXIT_USAGE;
        }
        if (optind < argc) {
            if (o.bpf) {
                fprintf(stderr, "twscope: give the filter either with -f or as arguments, not both\n");
                return EXIT_USAGE;
            }
            filter_owned = join_args(argv, optind, argc);
            o.bpf = filter_owned;
        }
        o.cap.bpf = o.bpf;
        if (o.write_path) {
            char why[300];
            if (outfile_check(o.write_path, pcapng_head_is_ours, "a pcapng file twscope wrote",
                              why, sizeof why)) {
                fprintf(stderr, "twscope: capture: -w %s: %s; left as it is, use another -w\n",
                        o.write_path, why);
                free(filter_owned);
                return 1;
            }
        }
        rc = analyze_live(&o, iface, stderr);
        free(filter_owned);
        return rc ? (rc == TW_ERR_USAGE ? EXIT_USAGE : 1) : 0;
    }

    /* files first; the first argument that is not a file starts the filter */
    for (int i = optind; i < argc; i++) {
        struct stat sb;
        /* a bare word naming a directory ("src", "host") belongs to the filter */
        if (i == optind || strcmp(argv[i], "-") == 0 || looks_like_path(argv[i]) ||
            (stat(argv[i], &sb) == 0 && !S_ISDIR(sb.st_mode)))
            nfiles++;
        else
            break;
    }
    if (nfiles == 0) {
        fprintf(stderr, "twscope: analyze: no capture file given (use '-' for stdin; see "
                        "twscope analyze --help)\n");
        return EXIT_USAGE;
    }
    if (optind + nfiles < argc) {
        if (o.bpf) {
            fprintf(stderr, "twscope: give the filter either with -f or as arguments, not both\n");
            return EXIT_USAGE;
        }
        filter_owned = join_args(argv, optind + nfiles, argc);
        o.bpf = filter_owned;
    }
    o.cap.bpf = o.bpf;
    rc = analyze_files(&o, (const char *const *)argv + optind, nfiles, stderr);
    free(filter_owned);
    return rc ? (rc == TW_ERR_USAGE ? EXIT_USAGE : 1) : 0;
}

enum { OPT_PORT_RANGE = 512, OPT_BUCKET, OPT_BY, OPT_UTC, OPT_LOCAL };

static int cmd_query(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, 0, 'F'},
        {"port-range", required_argument, 0, OPT_PORT_RANGE},
        {"bucket", required_argument, 0, OPT_BUCKET},
        {"by", required_argument, 0, OPT_BY},
        {"utc", no_argument, 0, OPT_UTC},
        {"local", no_argument, 0, OPT_LOCAL},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    enum report_format fmt = REPORT_TABLE;
    struct report_opts ro;
    const char *pos[3] = {0};
    int npos = 0, opt;

    memset(&ro, 0, sizeof ro);
    optind = 1;
    /* permute: options may come after the positional arguments */
    while ((opt = getopt_long(argc, argv, ":F:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_PORT_RANGE:
            if (parse_port_range(optarg, &ro))
                return EXIT_USAGE;
            break;
        case OPT_BUCKET:
            if (parse_double("--bucket", optarg, &ro.bucket_s))
                return EXIT_USAGE;
            if (!(ro.bucket_s >= 0.001 && ro.bucket_s <= 1e9)) {
                fprintf(stderr, "twscope: --bucket: from 0.001 to 1e9 seconds\n");
                return EXIT_USAGE;
            }
            break;
        case OPT_BY: {
            int b = report_parse_by(optarg);
            if (b < 0) {
                fprintf(stderr, "twscope: --by: unknown series '%s' (side, host, app)\n", optarg);
                return EXIT_USAGE;
            }
            ro.by = (enum report_by)b;
            break;
        }
        case 'F': {
            int f = report_parse_format(optarg);
            if (f < 0) {
                fprintf(stderr, "twscope: --format: unknown format '%s' (table, csv, json)\n",
                        optarg);
                return EXIT_USAGE;
            }
            fmt = (enum report_format)f;
            break;
        }
        case OPT_UTC:
        case OPT_LOCAL: {
            enum report_time t = opt == OPT_UTC ? REPORT_TIME_UTC : REPORT_TIME_LOCAL;
            if (ro.time_mode && ro.time_mode != t) {
                fprintf(stderr, "twscope: query: --utc and --local: choose one\n");
                return EXIT_USAGE;
            }
            ro.time_mode = t;
            break;
        }
        case 'h': usage_query(stdout); return 0;
        default:
            bad_option("query", opt, argv);
            return EXIT_USAGE;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (npos == 3) {
            fprintf(stderr, "twscope: query: too many arguments ('%s')\n", argv[i]);
            return EXIT_USAGE;
        }
        pos[npos++] = argv[i];
    }
    if (npos < 2) {
        fprintf(stderr, "twscope: query: need a database and a report name (see twscope query "
                        "--help)\n");
        return EXIT_USAGE;
    }
    if (strcmp(pos[1], "sql") == 0 && npos != 3) {
        fprintf(stderr, "twscope: query sql: need one SQL statement argument\n");
        return EXIT_USAGE;
    }
    if (strcmp(pos[1], "sql") != 0 && npos != 2) {
        fprintf(stderr, "twscope: query: too many arguments ('%s')\n", pos[2]);
        return EXIT_USAGE;
    }
    {
        int rc = report_run_opts(pos[0], pos[1], pos[2], fmt, &ro, stdout, stderr);
        return rc ? (rc == TW_ERR_USAGE ? EXIT_USAGE : 1) : 0;
    }
}

static void usage_report(FILE *f)
{
    fprintf(f, "Usage: twscope report DB [-o FILE] [--port-range LO-HI]\n\n"
               "Write one self-contained HTML file (inline CSS and SVG charts, nothing\n"
               "fetched from elsewhere): captures, concurrent TIME_WAIT over time, end\n"
               "reasons, durations, findings over time, port exhaustion, top endpoints\n"
               "and applications, and the findings with Wireshark filters (first %d).\n\n"
               "  -o, --output FILE    where to write (default %s; '-' = stdout);\n"
               "                       an existing file is replaced only if it is empty\n"
               "                       or a twscope report\n"
               "      --port-range R   ephemeral range LO-HI of the port exhaustion table\n"
               "                       (default %d-%d)\n"
               "  -h, --help           this help\n",
            REPORT_HTML_MAX_FINDINGS, REPORT_HTML_DEFAULT_PATH, REPORT_PORT_LO_DEFAULT,
            REPORT_PORT_HI_DEFAULT);
}

static int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"port-range", required_argument, 0, OPT_PORT_RANGE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = REPORT_HTML_DEFAULT_PATH;
    struct report_opts ro;
    int opt, rc;

    memset(&ro, 0, sizeof ro);
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case OPT_PORT_RANGE:
            if (parse_port_range(optarg, &ro))
                return EXIT_USAGE;
            break;
        case 'h': usage_report(stdout); return 0;
        default:
            bad_option("report", opt, argv);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "twscope: report: need exactly one database (see twscope report --help)\n");
        return EXIT_USAGE;
    }
    rc = report_html_write(argv[optind], out, &ro, stderr);
    return rc ? (rc == TW_ERR_USAGE ? EXIT_USAGE : 1) : 0;
}

static void usage_explain(FILE *f)
{
    fprintf(f, "Usage: twscope explain DB (CONN_ID | IP:PORT-IP:PORT) [options]\n\n"
               "Every incarnation of one 4-tuple (the connection's, or the one given; either\n"
               "order, IPv6 as [ADDR]:PORT), in time order as a ladder diagram: one line per\n"
               "frame, an arrow between the two endpoints (frame number on the left), and\n"
               "what happened there (incarnations, FINs, TIME_WAIT start and end, findings).\n"
               "Then 'What happened': each TIME_WAIT period and each finding in words, with\n"
               "the answer it drew from the other side. The packets are read again from\n"
               "the capture files recorded in the database when they are unchanged (same\n"
               "size and fingerprint); otherwise only the frames the database holds are\n"
               "shown, and the first line says why.\n\n"
               "      --capture ID     only this capture (default: every capture with it)\n"
               "      --db-only        do not read the capture files\n"
               "      --all-packets    one line per packet (default: runs of three or more\n"
               "                       plain data/ACK segments are folded into one line)\n"
               "  -h, --help           this help\n");
}

enum { OPT_EX_CAPTURE = 600, OPT_DB_ONLY, OPT_ALL_PACKETS };

static int cmd_explain(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"capture", required_argument, 0, OPT_EX_CAPTURE},
        {"db-only", no_argument, 0, OPT_DB_ONLY},
        {"all-packets", no_argument, 0, OPT_ALL_PACKETS},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct explain_opts eo;
    uint64_t cap;
    int opt, rc;

    memset(&eo, 0, sizeof eo);
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_EX_CAPTURE:
            if (parse_u64("--capture", optarg, &cap))
                return EXIT_USAGE;
            if (cap == 0 || cap > INT64_MAX) {
                fprintf(stderr, "twscope: --capture: a capture id (1 or more), not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            eo.capture_id = (int64_t)cap;
            break;
        case OPT_DB_ONLY: eo.db_only = 1; break;
        case OPT_ALL_PACKETS: eo.all_packets = 1; break;
        case 'h': usage_explain(stdout); return 0;
        default:
            bad_option("explain", opt, argv);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "twscope: explain: need a database and a connection id or"
                        " IP:PORT-IP:PORT (see twscope explain --help)\n");
        return EXIT_USAGE;
    }
    rc = explain_run(argv[optind], argv[optind + 1], &eo, stdout, stderr);
    return rc ? (rc == TW_ERR_USAGE ? EXIT_USAGE : 1) : 0;
}

static void usage_annotate(FILE *f)
{
    fprintf(f, "Usage: twscope annotate DB -o OUT [--capture ID] [--file N] [--merge]\n\n"
               "Copy the source files of an analyzed capture (as recorded in the database,\n"
               "checked against the size and fingerprint recorded then) to pcapng, with a\n"
               "packet comment starting with \"twscope: \" on every frame a finding, a\n"
               "TIME_WAIT start or end, or a new incarnation points at (Wireshark:\n"
               "frame.comment contains \"twscope\"). Every packet, timestamp, interface and\n"
               "existing comment is kept. Outputs appear only once complete, and replace\n"
               "only an empty file or a pcapng file twscope wrote.\n\n"
               "  -o, --output OUT     one input file: the output file; several: a directory\n"
               "                       (DIR/NAME.pcapng, NAME = the input's name without\n"
               "                       .gz and extension) or a pattern where %%f is that NAME,\n"
               "                       %%i the file number and %%%% a percent sign; with\n"
               "                       --merge: the one output file\n"
               "      --capture ID     the capture to annotate (needed when the database\n"
               "                       holds several)\n"
               "      --file N         only file N of the capture (numbered from 0, as in the\n"
               "                       file column of the database)\n"
               "      --merge          all files into the one output -o names, one after the\n"
               "                       other in the order they were analyzed (frame k of\n"
               "                       file i is frame k + the frames of the files before),\n"
               "                       with every file's interfaces\n"
               "  -q, --quiet          no summary line\n"
               "  -h, --help           this help\n");
}

enum { OPT_CAPTURE = 768, OPT_FILE, OPT_MERGE };

static int cmd_annotate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"capture", required_argument, 0, OPT_CAPTURE},
        {"file", required_argument, 0, OPT_FILE},
        {"merge", no_argument, 0, OPT_MERGE},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct annotate_opts ao = {.file = -1};
    uint64_t v = 1;
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': ao.out = optarg; break;
        case OPT_CAPTURE:
            if (parse_u64("--capture", optarg, &v) || v == 0 || v > INT64_MAX) {
                if (v == 0)
                    fprintf(stderr, "twscope: --capture: capture ids start at 1\n");
                return EXIT_USAGE;
            }
            ao.capture_id = (int64_t)v;
            break;
        case OPT_FILE:
            if (parse_u64("--file", optarg, &v) || v > UINT32_MAX)
                return EXIT_USAGE;
            ao.file = (int64_t)v;
            break;
        case OPT_MERGE: ao.merge = 1; break;
        case 'q': ao.quiet = 1; break;
        case 'h': usage_annotate(stdout); return 0;
        default:
            bad_option("annotate", opt, argv);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "twscope: annotate: need exactly one database (see twscope annotate "
                        "--help)\n");
        return EXIT_USAGE;
    }
    if (!ao.out || !*ao.out) {
        fprintf(stderr, "twscope: annotate: -o OUT is required (see twscope annotate --help)\n");
        return EXIT_USAGE;
    }
    ao.db_path = argv[optind];
    rc = annotate_run(&ao, stderr);
    return rc ? (rc == TW_ERR_USAGE ? EXIT_USAGE : 1) : 0;
}

static void usage_merge(FILE *f)
{
    fprintf(f, "Usage: twscope merge -o OUT.db [--overwrite] [-q] DB...\n\n"
               "Combine twscope databases (the shards of one capture made by analyze\n"
               "--shard K/N on several machines, or databases of different sensors) into\n"
               "a new database, in one transaction, with new ids. Shards of one capture\n"
               "(the same files by size and fingerprint, different shards of the same N)\n"
               "become one capture, so reports give the numbers of a one-pass analysis;\n"
               "every other capture stays one of its own. merge_sources and\n"
               "connections.merge_source say which database and capture each row came\n"
               "from. The sources are only read.\n\n"
               "  -o, --output OUT     the new database (required): missing, empty, or a\n"
               "                       twscope database without captures\n"
               "      --overwrite      empty OUT first when it is a twscope database\n"
               "  -q, --quiet          no closing summary line\n"
               "  -h, --help           this help\n");
}

static int cmd_merge(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"overwrite", no_argument, 0, OPT_OVERWRITE},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct store_merge_stats ms;
    const char *out = NULL;
    char err[768] = "";
    int opt, rc, overwrite = 0, quiet = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case OPT_OVERWRITE: overwrite = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage_merge(stdout); return 0;
        default:
            bad_option("merge", opt, argv);
            return EXIT_USAGE;
        }
    }
    if (!out) {
        fprintf(stderr, "twscope: merge: -o OUT.db is required (see twscope merge --help)\n");
        return EXIT_USAGE;
    }
    if (optind == argc) {
        fprintf(stderr, "twscope: merge: no database to merge (see twscope merge --help)\n");
        return EXIT_USAGE;
    }
    rc = store_merge(out, overwrite, (const char *const *)argv + optind, argc - optind, &ms, err,
                     sizeof err);
    if (rc) {
        fprintf(stderr, "twscope: %s\n", err);
        return rc == TW_ERR_USAGE ? EXIT_USAGE : 1;
    }
    if (!quiet)
        fprintf(stderr,
                "twscope: %d database(s), %lld capture(s) -> %lld capture(s): %lld connections, "
                "%lld TIME_WAIT periods, %lld findings -> %s\n",
                argc - optind, (long long)ms.sources, (long long)ms.captures,
                (long long)ms.connections, (long long)ms.time_waits, (long long)ms.findings, out);
    return 0;
}

int main(int argc, char **argv)
{
    opterr = 0;
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("twscope %s\n", TWSCOPE_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "analyze") == 0)
        return cmd_analyze(argc - 1, argv + 1, 0);
    if (strcmp(argv[1], "capture") == 0)
        return cmd_analyze(argc - 1, argv + 1, 1);
    if (strcmp(argv[1], "query") == 0)
        return cmd_query(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "explain") == 0)
        return cmd_explain(argc - 1, argv + 1);
    if (strcmp(argv[1], "annotate") == 0)
        return cmd_annotate(argc - 1, argv + 1);
    if (strcmp(argv[1], "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    fprintf(stderr, "twscope: unknown command '%s' (see twscope --help)\n", argv[1]);
    return EXIT_USAGE;
}

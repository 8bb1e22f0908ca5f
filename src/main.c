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
#include "twscope/capture.h"
#include "twscope/config.h"
#include "twscope/report.h"
#include "twscope/report_html.h"
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
            "  twscope --help | --version\n"
            "\n"
            "Commands:\n"
            "  analyze   read pcap/pcapng files (gzip too, '-' = stdin) into a SQLite database\n"
            "  capture   analyze live traffic of an interface into a SQLite database\n"
            "  query     print a report of a database: summary, connections, timewaits,\n"
            "            findings, reuse, ports, timeline, or the result of a read-only\n"
            "            SQL statement\n"
            "  report    write a self-contained HTML report (charts and tables) of a database\n"
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
                   "end_reason 'capture_end'. Rows are committed at least once a second.\n\n"
                   "  -i, --interface IFACE  interface to capture on ('any' works)\n"
                   "  -D, --list-interfaces  list interfaces and exit\n"
                   "      --duration S       stop after S seconds\n"
                   "      --count N          stop after N packets\n"
                   "      --snaplen N        bytes captured per packet (default 262144)\n"
                   "      --buffer MB        kernel capture buffer size\n"
                   "      --promisc          promiscuous mode\n");
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
               "  sql          run a read-only SQL statement (tables: captures, connections,\n"
               "               time_waits, findings)\n\n"
               "  -F, --format FMT     table (default), csv (RFC 4180) or json\n"
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
    OPT_APPEND, OPT_PER_FILE,
};

static int cmd_analyze(int argc, char **argv, int live)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"overwrite", no_argument, 0, OPT_OVERWRITE},
        {"append", no_argument, 0, OPT_APPEND},
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
    while ((opt = getopt_long(argc, argv, live ? "+:o:f:qvhi:D" : "+:o:f:qvh", longopts, NULL)) != -1) {
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
        o.progress = 0;
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

enum { OPT_PORT_RANGE = 512, OPT_BUCKET, OPT_BY };

static int cmd_query(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, 0, 'F'},
        {"port-range", required_argument, 0, OPT_PORT_RANGE},
        {"bucket", required_argument, 0, OPT_BUCKET},
        {"by", required_argument, 0, OPT_BY},
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
    fprintf(stderr, "twscope: unknown command '%s' (see twscope --help)\n", argv[1]);
    return EXIT_USAGE;
}

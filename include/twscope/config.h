/*
 * config.h -- every tunable limit of twscope in one place (p0f style).
 */
#ifndef TWSCOPE_CONFIG_H
#define TWSCOPE_CONFIG_H

#define TWSCOPE_VERSION "0.1.0"
#define TWSCOPE_SCHEMA_VERSION 3      /* PRAGMA user_version of the database */
#define TWSCOPE_APPLICATION_ID 0x74777363 /* PRAGMA application_id of our databases: 'twsc' */
#define TWSCOPE_DEFAULT_DB "twscope.db"

#define DECODE_MAX_VLAN 2             /* VLAN tags kept (outer, inner); deeper tags are skipped */
#define DECODE_MAX_IPV6_EXT 8         /* IPv6 extension headers walked before giving up */
#define DECODE_OPT_SIG_LEN 8          /* TCP option kinds remembered in order (OS profile guess) */

#define FLOWTAB_INITIAL_SLOTS 4096    /* open-addressing slots at start (power of two) */
#define FLOWTAB_MAX_LOAD_PCT 70       /* grow when this full */
#define FLOW_DEFAULT_MAX 4000000      /* --max-flows default: tracked connections cap */
#define FLOW_POOL_CHUNK 4096          /* connections allocated per pool refill */
#define FLOW_IDLE_TIMEOUT_SEC 300     /* open connection without packets: flushed */
#define FLOW_CLOSED_LINGER_SEC 120    /* closed connection kept to attach late segments */
#define FLOW_SWEEP_INTERVAL_SEC 1     /* packet-time interval between expiry sweeps */
#define FLOW_GONE_FILTER_BITS_LOG2 24 /* Bloom filter of tuples that left memory: 2 MB */

#define DPI_MAX_PACKETS 24            /* packets fed to nDPI before giving up */

#define STORE_BATCH_ROWS 20000        /* rows per SQLite transaction */
#define WRITER_RING_BYTES (4u << 20)  /* rows queued for the writer thread (about 12k) */
#define WRITER_WAKE_BYTES (64u << 10) /* bytes of rows queued before a sleeping writer is woken */
#define LANE_RING_BYTES (4u << 20)    /* analyze -j: packets queued for each analysis thread
                                         (a frame is at most 256 KiB: a quarter of the ring) */
#define LANE_WAKE_BYTES (64u << 10)   /* bytes of packets queued before a sleeping lane is woken */
#define ANALYZE_MAX_JOBS 64           /* analyze -j N: at most */
#define LIVE_PENDING_MAX 65536      /* live: TIME_WAIT starts kept per second for their open
                                        rows; beyond, that pass visits every connection */

#define TW_DEFAULT_PROFILE TWP_LINUX  /* --tw-profile default, and for an unknown profile id */
#define FIN_DUP_USEC 1000             /* a FIN copy closer than this is a capture duplicate */
#define TW_COPY_SLOTS_LOG2 16         /* R15: recent segments remembered (24 B each: 1.5 MB) */
#define TW_TAP_COPY_USEC 10000        /* R15: the same segment again, same file, closer than
                                         this: a copy at the tap (-i any, SPAN); a sender's
                                         retransmission waits an RTO, 200 ms at least on Linux */
#define TW_VANTAGE_COPY_USEC 100000   /* R15: ... from another file: the second capture point
                                         (one-way delay plus the clocks' offset below this) */

#endif /* TWSCOPE_CONFIG_H */

/*
 * sizes.c -- sizes of twscope's per-connection records, so the measured
 * bytes per tracked connection can be compared with what the structs cost.
 */
#include <stdio.h>

#include "twscope/flowtab.h"
#include "twscope/tcpstate.h"

int main(void)
{
    printf("sizeof_conn=%zu\n", sizeof(struct conn));
    printf("sizeof_flow_key=%zu\n", sizeof(struct flow_key));
    printf("flowtab_slot=16\n");
    printf("flowtab_max_load_pct=%d\n", FLOWTAB_MAX_LOAD_PCT);
    printf("flow_pool_chunk=%d\n", FLOW_POOL_CHUNK);
    return 0;
}

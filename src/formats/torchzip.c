/* torchzip.c - PyTorch zip checkpoints (torch.save since 1.6): a zip reader for stored entries
 * (ZIP64 aware, data located through each entry's own local header, as PyTorch's reader does)
 * and a "just enough pickle" interpreter for state dicts. The interpreter builds plain values
 * (ints, strings, tuples, dicts, storage references, tensor descriptors) from a closed list of
 * opcodes and an allow-list of globals; every other opcode or global is an error. All counts and
 * offsets are checked against the input, and memory use is bounded by the input size. */
#include "formats/torchzip.h"
#include "core/file.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *storage; /* torch.<X>Storage */
    const char *name;
    size_t size;
} k_dtypes[TZ_DTYPE_COUNT] = {
    [TZ_F32] = {"FloatStorage", "f32", 4},   [TZ_F16] = {"HalfStorage", "f16", 2},
    [TZ_BF16] = {"BFloat16Storage", "bf16", 2}, [TZ_F64] = {"DoubleStorage", "f64", 8},
    [TZ_I64] = {"LongStorage", "i64", 8},    [TZ_I32] = {"IntStorage", "i32", 4},
    [TZ_I16] = {"ShortStorage", "i16", 2},   [TZ_I8] = {"CharStorage", "i8", 1},
    [TZ_U8] = {"ByteStorage", "u8", 1},      [TZ_BOOL] = {"BoolStorage", "bool", 1},
};

const char *tz_dtype_name(tz_dtype t) { return (unsigned)t < TZ_DTYPE_COUNT ? k_dtypes[t].name : "?"; }
size_t tz_dtype_size(tz_dtype t) { return (unsigned)t < TZ_DTYPE_COUNT ? k_dtypes[t].size : 0; }

/* ------------------------------------------------------------------ pickle values */

enum pkind { PK_MARK, PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL,
             PK_STORAGE, PK_TENSOR };
enum pglobal { G_ODICT, G_REBUILD_V2, G_REBUILD_PARAM, G_STORAGE };

typedef struct pval pval;
struct pval {
    uint8_t kind;
    uint8_t glob;  /* PK_GLOBAL: enum pglobal */
    uint8_t dtype; /* PK_GLOBAL G_STORAGE and PK_STORAGE */
    int64_t i;     /* PK_INT, PK_BOOL */
    const char *s; /* PK_STR; PK_STORAGE: key */
    size_t len;
    pval **items;  /* PK_TUPLE / PK_LIST; PK_DICT: key, value, key, value... */
    size_t n, cap;
    tz_pickle_tensor *t; /* PK_TENSOR */
};

typedef struct pmachine {
    const uint8_t *p, *end;
    size_t in_size;
    pval **nodes; /* every allocated node, freed at the end */
    size_t n_nodes, cap_nodes;
    pval **stack;
    size_t sp, cap_stack;
    pval **memo;
    size_t n_memo;
} pmachine;

static pval k_mark = {.kind = PK_MARK};

static const char *kind_name(int k)
{
    static const char *const n[] = {"mark", "None", "bool", "int", "float", "str", "tuple", "list", "dict",
                                    "global", "storage", "tensor"};
    return n[k];
}

static medge_status push_ptr(pval ***v, size_t *n, size_t *cap, pval *x)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        pval **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = x;
    return MEDGE_OK;
}

static pval *node_new(pmachine *m, int kind)
{
    /* Each opcode allocates at most one node, so the count is bounded by the pickle size. */
    pval *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    if (push_ptr(&m->nodes, &m->n_nodes, &m->cap_nodes, v) != MEDGE_OK) {
        free(v);
        return NULL;
    }
    v->kind = (uint8_t)kind;
    return v;
}

static void machine_free(pmachine *m)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        free(m->nodes[i]->items);
        free(m->nodes[i]->t);
        free(m->nodes[i]);
    }
    free(m->nodes);
    free(m->stack);
    free(m->memo);
}

#define PFAIL(rc, ...) medge_err(rc, "pickle at byte " "%zu: " __VA_ARGS__)

static medge_status spush(pmachine *m, pval *v)
{
    if (!v)
        return medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
    return push_ptr(&m->stack, &m->sp, &m->cap_stack, v);
}

static medge_status spop(pmachine *m, size_t pos, pval **out)
{
    if (m->sp == 0 || m->stack[m->sp - 1] == &k_mark)
        return PFAIL(MEDGE_ERR_FORMAT, "stack underflow", pos);
    *out = m->stack[--m->sp];
    return MEDGE_OK;
}

/* Index of the topmost mark. */
static medge_status find_mark(pmachine *m, size_t pos, size_t *at)
{
    for (size_t k = m->sp; k-- > 0;)
        if (m->stack[k] == &k_mark) {
            *at = k;
            return MEDGE_OK;
        }
    return PFAIL(MEDGE_ERR_FORMAT, "no MARK on the stack", pos);
}

static medge_status make_seq(pmachine *m, int kind, pval **items, size_t n, pval **out)
{
    pval *v = node_new(m, kind);
    if (!v)
        return medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
    if (n) {
        v->items = malloc(n * sizeof *v->items);
        if (!v->items)
            return medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
        memcpy(v->items, items, n * sizeof *items);
    }
    v->n = v->cap = n;
    *out = v;
    return MEDGE_OK;
}

static bool str_eq(const pval *v, const char *s)
{
    size_t n = strlen(s);
    return v->kind == PK_STR && v->len == n && memcmp(v->s, s, n) == 0;
}

static medge_status dict_set(pmachine *m, size_t pos, pval *d, pval *k, pval *v)
{
    if (d->kind != PK_DICT)
        return PFAIL(MEDGE_ERR_FORMAT, "SETITEM on a %s", pos, kind_name(d->kind));
    MEDGE_TRY(push_ptr(&d->items, &d->n, &d->cap, k));
    return push_ptr(&d->items, &d->n, &d->cap, v);
}

static medge_status resolve_global(pmachine *m, size_t pos, const char *mod, size_t nmod, const char *name,
                                   size_t nname, pval **out)
{
    pval *g = node_new(m, PK_GLOBAL);
    if (!g)
        return medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
#define IS(a, n, s) ((n) == strlen(s) && memcmp((a), (s), (n)) == 0)
    if (IS(mod, nmod, "collections") && IS(name, nname, "OrderedDict"))
        g->glob = G_ODICT;
    else if (IS(mod, nmod, "torch._utils") && IS(name, nname, "_rebuild_tensor_v2"))
        g->glob = G_REBUILD_V2;
    else if (IS(mod, nmod, "torch._utils") && IS(name, nname, "_rebuild_parameter"))
        g->glob = G_REBUILD_PARAM;
    else {
        int dt = -1;
        if (IS(mod, nmod, "torch"))
            for (int k = 0; k < TZ_DTYPE_COUNT; k++)
                if (IS(name, nname, k_dtypes[k].storage))
                    dt = k;
        if (dt < 0) {
            int a = nmod > 64 ? 64 : (int)nmod, b = nname > 64 ? 64 : (int)nname;
            return PFAIL(MEDGE_ERR_UNSUPPORTED,
                         "global '%.*s.%.*s' is not allowed (only state dicts of tensors are read; "
                         "nothing in a pickle is executed)",
                         pos, a, mod, b, name);
        }
        g->glob = G_STORAGE;
        g->dtype = (uint8_t)dt;
    }
#undef IS
    *out = g;
    return MEDGE_OK;
}

static medge_status int_tuple(size_t pos, const pval *t, const char *what, int *n, int64_t *dst)
{
    if (t->kind != PK_TUPLE)
        return PFAIL(MEDGE_ERR_FORMAT, "tensor %s is a %s, not a tuple", pos, what, kind_name(t->kind));
    if (t->n > TZ_MAX_DIMS)
        return PFAIL(MEDGE_ERR_UNSUPPORTED, "tensor with %zu dimensions (max %d)", pos, t->n, TZ_MAX_DIMS);
    for (size_t k = 0; k < t->n; k++) {
        if (t->items[k]->kind != PK_INT || t->items[k]->i < 0)
            return PFAIL(MEDGE_ERR_FORMAT, "tensor %s entry %zu is not a non-negative int", pos, what, k);
        dst[k] = t->items[k]->i;
    }
    *n = (int)t->n;
    return MEDGE_OK;
}

/* callable(args) for the allowed globals. */
static medge_status do_reduce(pmachine *m, size_t pos, pval *fn, pval *args, pval **out)
{
    if (fn->kind != PK_GLOBAL)
        return PFAIL(MEDGE_ERR_FORMAT, "REDUCE of a %s", pos, kind_name(fn->kind));
    if (args->kind != PK_TUPLE)
        return PFAIL(MEDGE_ERR_FORMAT, "REDUCE arguments are a %s", pos, kind_name(args->kind));
    switch (fn->glob) {
    case G_ODICT:
        if (args->n != 0)
            return PFAIL(MEDGE_ERR_UNSUPPORTED, "OrderedDict with %zu arguments", pos, args->n);
        *out = node_new(m, PK_DICT);
        return *out ? MEDGE_OK : medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
    case G_REBUILD_PARAM:
        if (args->n < 1 || args->items[0]->kind != PK_TENSOR)
            return PFAIL(MEDGE_ERR_FORMAT, "_rebuild_parameter without a tensor", pos);
        *out = args->items[0];
        return MEDGE_OK;
    case G_REBUILD_V2: {
        if (args->n != 6 && args->n != 7)
            return PFAIL(MEDGE_ERR_FORMAT, "_rebuild_tensor_v2 with %zu arguments (expected 6)", pos, args->n);
        pval *st = args->items[0], *off = args->items[1];
        if (st->kind != PK_STORAGE)
            return PFAIL(MEDGE_ERR_FORMAT, "_rebuild_tensor_v2: first argument is a %s, not a storage", pos,
                         kind_name(st->kind));
        if (off->kind != PK_INT || off->i < 0)
            return PFAIL(MEDGE_ERR_FORMAT, "_rebuild_tensor_v2: bad storage offset", pos);
        tz_pickle_tensor *t = calloc(1, sizeof *t);
        pval *v = t ? node_new(m, PK_TENSOR) : NULL;
        if (!v) {
            free(t);
            return medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
        }
        v->t = t;
        t->dtype = (tz_dtype)st->dtype;
        t->key = st->s;
        t->key_len = st->len;
        t->storage_offset = (uint64_t)off->i;
        int ns = 0, nst = 0;
        MEDGE_TRY(int_tuple(pos, args->items[2], "size", &ns, t->shape));
        MEDGE_TRY(int_tuple(pos, args->items[3], "stride", &nst, t->stride));
        if (ns != nst)
            return PFAIL(MEDGE_ERR_FORMAT, "tensor size has %d dims but stride %d", pos, ns, nst);
        t->n_dims = ns;
        *out = v;
        return MEDGE_OK;
    }
    default:
        return PFAIL(MEDGE_ERR_UNSUPPORTED, "a storage class cannot be called", pos);
    }
}

static medge_status need(const pmachine *m, size_t pos, size_t n)
{
    if ((size_t)(m->end - m->p) < n)
        return PFAIL(MEDGE_ERR_FORMAT, "truncated", pos);
    return MEDGE_OK;
}

static uint32_t rd_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint64_t rd_u64(const uint8_t *p) { return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32; }

static medge_status push_int(pmachine *m, int64_t i)
{
    pval *v = node_new(m, PK_INT);
    if (v)
        v->i = i;
    return spush(m, v);
}

static medge_status push_str(pmachine *m, size_t pos, uint64_t len)
{
    MEDGE_TRY(need(m, pos, len));
    pval *v = node_new(m, PK_STR);
    if (v) {
        v->s = (const char *)m->p;
        v->len = (size_t)len;
    }
    m->p += len;
    return spush(m, v);
}

static medge_status memo_put(pmachine *m, size_t pos, uint64_t idx)
{
    if (m->sp == 0 || m->stack[m->sp - 1] == &k_mark)
        return PFAIL(MEDGE_ERR_FORMAT, "memo put with an empty stack", pos);
    /* Indices are sequential in real pickles; bounding them by the input size bounds memory. */
    if (idx > m->in_size)
        return PFAIL(MEDGE_ERR_FORMAT, "memo index %llu too large", pos, (unsigned long long)idx);
    if (idx >= m->n_memo) {
        size_t nn = (size_t)idx + 1 > m->n_memo * 2 ? (size_t)idx + 1 : m->n_memo * 2;
        if (nn > m->in_size + 1)
            nn = m->in_size + 1;
        pval **nm = realloc(m->memo, nn * sizeof *nm);
        if (!nm)
            return medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
        memset(nm + m->n_memo, 0, (nn - m->n_memo) * sizeof *nm);
        m->memo = nm;
        m->n_memo = nn;
    }
    m->memo[idx] = m->stack[m->sp - 1];
    return MEDGE_OK;
}

static medge_status memo_get(pmachine *m, size_t pos, uint64_t idx)
{
    if (idx >= m->n_memo || !m->memo[idx])
        return PFAIL(MEDGE_ERR_FORMAT, "memo index %llu was never set", pos, (unsigned long long)idx);
    return spush(m, m->memo[idx]);
}

static medge_status run_machine(pmachine *m, pval **result)
{
    const uint8_t *start = m->p;
    size_t n_memoized = 0;
    for (;;) {
        size_t pos = (size_t)(m->p - start);
        MEDGE_TRY(need(m, pos, 1));
        uint8_t op = *m->p++;
        pval *a = NULL, *b = NULL, *c = NULL;
        size_t mk = 0;
        switch (op) {
        case 0x80: /* PROTO */
            MEDGE_TRY(need(m, pos, 1));
            if (*m->p > 5)
                return PFAIL(MEDGE_ERR_UNSUPPORTED, "pickle protocol %u", pos, *m->p);
            m->p++;
            break;
        case 0x95: /* FRAME: only a length hint */
            MEDGE_TRY(need(m, pos, 8));
            m->p += 8;
            break;
        case '.': /* STOP */
            MEDGE_TRY(spop(m, pos, result));
            return MEDGE_OK;
        case 'c': { /* GLOBAL module\nname\n */
            const uint8_t *l1 = memchr(m->p, '\n', (size_t)(m->end - m->p));
            if (!l1)
                return PFAIL(MEDGE_ERR_FORMAT, "unterminated GLOBAL", pos);
            const uint8_t *l2 = memchr(l1 + 1, '\n', (size_t)(m->end - l1 - 1));
            if (!l2)
                return PFAIL(MEDGE_ERR_FORMAT, "unterminated GLOBAL", pos);
            MEDGE_TRY(resolve_global(m, pos, (const char *)m->p, (size_t)(l1 - m->p), (const char *)l1 + 1,
                                     (size_t)(l2 - l1 - 1), &a));
            m->p = l2 + 1;
            MEDGE_TRY(spush(m, a));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            MEDGE_TRY(spop(m, pos, &b));
            MEDGE_TRY(spop(m, pos, &a));
            if (a->kind != PK_STR || b->kind != PK_STR)
                return PFAIL(MEDGE_ERR_FORMAT, "STACK_GLOBAL of non-strings", pos);
            MEDGE_TRY(resolve_global(m, pos, a->s, a->len, b->s, b->len, &c));
            MEDGE_TRY(spush(m, c));
            break;
        case 'q': /* BINPUT */
            MEDGE_TRY(need(m, pos, 1));
            MEDGE_TRY(memo_put(m, pos, *m->p++));
            break;
        case 'r': /* LONG_BINPUT */
            MEDGE_TRY(need(m, pos, 4));
            MEDGE_TRY(memo_put(m, pos, rd_u32(m->p)));
            m->p += 4;
            break;
        case 0x94: /* MEMOIZE */
            MEDGE_TRY(memo_put(m, pos, n_memoized++));
            break;
        case 'h': /* BINGET */
            MEDGE_TRY(need(m, pos, 1));
            MEDGE_TRY(memo_get(m, pos, *m->p++));
            break;
        case 'j': /* LONG_BINGET */
            MEDGE_TRY(need(m, pos, 4));
            MEDGE_TRY(memo_get(m, pos, rd_u32(m->p)));
            m->p += 4;
            break;
        case '(': /* MARK */
            MEDGE_TRY(spush(m, &k_mark));
            break;
        case '0': /* POP */
            MEDGE_TRY(spop(m, pos, &a));
            break;
        case ')': /* EMPTY_TUPLE */
            MEDGE_TRY(make_seq(m, PK_TUPLE, NULL, 0, &a));
            MEDGE_TRY(spush(m, a));
            break;
        case 't': /* TUPLE */
            MEDGE_TRY(find_mark(m, pos, &mk));
            MEDGE_TRY(make_seq(m, PK_TUPLE, m->stack + mk + 1, m->sp - mk - 1, &a));
            m->sp = mk;
            MEDGE_TRY(spush(m, a));
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            if (m->sp < k)
                return PFAIL(MEDGE_ERR_FORMAT, "stack underflow", pos);
            for (size_t j = m->sp - k; j < m->sp; j++)
                if (m->stack[j] == &k_mark)
                    return PFAIL(MEDGE_ERR_FORMAT, "MARK inside TUPLE%zu", pos, k);
            MEDGE_TRY(make_seq(m, PK_TUPLE, m->stack + m->sp - k, k, &a));
            m->sp -= k;
            MEDGE_TRY(spush(m, a));
            break;
        }
        case ']': /* EMPTY_LIST */
            MEDGE_TRY(make_seq(m, PK_LIST, NULL, 0, &a));
            MEDGE_TRY(spush(m, a));
            break;
        case 'a': /* APPEND */
            MEDGE_TRY(spop(m, pos, &b));
            MEDGE_TRY(spop(m, pos, &a));
            if (a->kind != PK_LIST)
                return PFAIL(MEDGE_ERR_FORMAT, "APPEND to a %s", pos, kind_name(a->kind));
            MEDGE_TRY(push_ptr(&a->items, &a->n, &a->cap, b));
            MEDGE_TRY(spush(m, a));
            break;
        case 'e': /* APPENDS */
            MEDGE_TRY(find_mark(m, pos, &mk));
            if (mk == 0 || m->stack[mk - 1]->kind != PK_LIST)
                return PFAIL(MEDGE_ERR_FORMAT, "APPENDS without a list", pos);
            a = m->stack[mk - 1];
            for (size_t j = mk + 1; j < m->sp; j++)
                MEDGE_TRY(push_ptr(&a->items, &a->n, &a->cap, m->stack[j]));
            m->sp = mk;
            break;
        case '}': /* EMPTY_DICT */
            a = node_new(m, PK_DICT);
            MEDGE_TRY(spush(m, a));
            break;
        case 'd': /* DICT */
            MEDGE_TRY(find_mark(m, pos, &mk));
            if ((m->sp - mk - 1) % 2)
                return PFAIL(MEDGE_ERR_FORMAT, "DICT with an odd number of items", pos);
            MEDGE_TRY(make_seq(m, PK_DICT, m->stack + mk + 1, m->sp - mk - 1, &a));
            m->sp = mk;
            MEDGE_TRY(spush(m, a));
            break;
        case 's': /* SETITEM */
            MEDGE_TRY(spop(m, pos, &c));
            MEDGE_TRY(spop(m, pos, &b));
            if (m->sp == 0 || m->stack[m->sp - 1] == &k_mark)
                return PFAIL(MEDGE_ERR_FORMAT, "SETITEM without a dict", pos);
            MEDGE_TRY(dict_set(m, pos, m->stack[m->sp - 1], b, c));
            break;
        case 'u': /* SETITEMS */
            MEDGE_TRY(find_mark(m, pos, &mk));
            if (mk == 0 || (m->sp - mk - 1) % 2)
                return PFAIL(MEDGE_ERR_FORMAT, "malformed SETITEMS", pos);
            for (size_t j = mk + 1; j < m->sp; j += 2)
                MEDGE_TRY(dict_set(m, pos, m->stack[mk - 1], m->stack[j], m->stack[j + 1]));
            m->sp = mk;
            break;
        case 'N':
            MEDGE_TRY(spush(m, node_new(m, PK_NONE)));
            break;
        case 0x88: case 0x89: /* NEWTRUE / NEWFALSE */
            a = node_new(m, PK_BOOL);
            if (a)
                a->i = op == 0x88;
            MEDGE_TRY(spush(m, a));
            break;
        case 'K': /* BININT1 */
            MEDGE_TRY(need(m, pos, 1));
            MEDGE_TRY(push_int(m, *m->p++));
            break;
        case 'M': /* BININT2 */
            MEDGE_TRY(need(m, pos, 2));
            MEDGE_TRY(push_int(m, rd_u16(m->p)));
            m->p += 2;
            break;
        case 'J': /* BININT */
            MEDGE_TRY(need(m, pos, 4));
            MEDGE_TRY(push_int(m, (int32_t)rd_u32(m->p)));
            m->p += 4;
            break;
        case 0x8a: { /* LONG1 */
            MEDGE_TRY(need(m, pos, 1));
            unsigned n = *m->p++;
            if (n > 8)
                return PFAIL(MEDGE_ERR_UNSUPPORTED, "integer of %u bytes", pos, n);
            MEDGE_TRY(need(m, pos, n));
            uint64_t u = 0;
            for (unsigned k = 0; k < n; k++)
                u |= (uint64_t)m->p[k] << (8 * k);
            if (n > 0 && n < 8 && (m->p[n - 1] & 0x80))
                u |= ~(uint64_t)0 << (8 * n);
            m->p += n;
            MEDGE_TRY(push_int(m, (int64_t)u));
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            MEDGE_TRY(need(m, pos, 8));
            uint64_t u = 0;
            for (int k = 0; k < 8; k++)
                u = u << 8 | m->p[k];
            m->p += 8;
            a = node_new(m, PK_FLOAT);
            if (a)
                memcpy(&a->i, &u, 8);
            MEDGE_TRY(spush(m, a));
            break;
        }
        case 'X': /* BINUNICODE */
            MEDGE_TRY(need(m, pos, 4));
            m->p += 4;
            MEDGE_TRY(push_str(m, pos, rd_u32(m->p - 4)));
            break;
        case 0x8c: /* SHORT_BINUNICODE */
            MEDGE_TRY(need(m, pos, 1));
            m->p += 1;
            MEDGE_TRY(push_str(m, pos, m->p[-1]));
            break;
        case 0x8d: /* BINUNICODE8 */
            MEDGE_TRY(need(m, pos, 8));
            m->p += 8;
            MEDGE_TRY(push_str(m, pos, rd_u64(m->p - 8)));
            break;
        case 'R': case 0x81: /* REDUCE, NEWOBJ */
            MEDGE_TRY(spop(m, pos, &b));
            MEDGE_TRY(spop(m, pos, &a));
            MEDGE_TRY(do_reduce(m, pos, a, b, &c));
            MEDGE_TRY(spush(m, c));
            break;
        case 'b': /* BUILD: the state (e.g. _metadata) is not needed */
            MEDGE_TRY(spop(m, pos, &b));
            if (m->sp == 0 || m->stack[m->sp - 1] == &k_mark)
                return PFAIL(MEDGE_ERR_FORMAT, "BUILD without an object", pos);
            break;
        case 'Q': { /* BINPERSID: ('storage', class, key, location, numel) */
            MEDGE_TRY(spop(m, pos, &a));
            if (a->kind != PK_TUPLE || a->n != 5 || !str_eq(a->items[0], "storage") ||
                a->items[1]->kind != PK_GLOBAL || a->items[1]->glob != G_STORAGE || a->items[2]->kind != PK_STR)
                return PFAIL(MEDGE_ERR_FORMAT, "persistent id is not ('storage', torch.<T>Storage, key, ...)", pos);
            b = node_new(m, PK_STORAGE);
            if (b) {
                b->dtype = a->items[1]->dtype;
                b->s = a->items[2]->s;
                b->len = a->items[2]->len;
            }
            MEDGE_TRY(spush(m, b));
            break;
        }
        default:
            return PFAIL(MEDGE_ERR_UNSUPPORTED, "opcode 0x%02x is not supported (only the state-dict subset of "
                         "pickle protocol 2 is read)", pos, op);
        }
    }
}

static int cmp_names(const void *a, const void *b)
{
    const tz_pickle_tensor *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

medge_status tz_parse_pickle(const uint8_t *pkl, size_t n, tz_pickle_tensor **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    pmachine m = {.p = pkl, .end = pkl + n, .in_size = n};
    pval *root = NULL;
    medge_status rc = run_machine(&m, &root);
    tz_pickle_tensor *ts = NULL;
    if (rc == MEDGE_OK && root->kind == PK_DICT && root->n == 2 && str_eq(root->items[0], "state_dict") &&
        root->items[1]->kind == PK_DICT)
        root = root->items[1];
    if (rc == MEDGE_OK && root->kind != PK_DICT)
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "pickle: the top object is a %s, not a state dict", kind_name(root->kind));
    size_t nt = rc == MEDGE_OK ? root->n / 2 : 0;
    if (rc == MEDGE_OK && nt) {
        ts = calloc(nt, sizeof *ts);
        if (!ts)
            rc = medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
    }
    for (size_t k = 0; rc == MEDGE_OK && k < nt; k++) {
        const pval *key = root->items[2 * k], *val = root->items[2 * k + 1];
        if (key->kind != PK_STR || key->len == 0 || memchr(key->s, 0, key->len))
            rc = medge_err(MEDGE_ERR_FORMAT, "pickle: state dict key %zu is not a non-empty string", k);
        else if (val->kind != PK_TENSOR)
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "pickle: state dict entry '%.*s' is a %s, not a tensor",
                           key->len > 100 ? 100 : (int)key->len, key->s, kind_name(val->kind));
        else {
            ts[k] = *val->t;
            ts[k].name = key->s;
            ts[k].name_len = key->len;
        }
    }
    if (rc == MEDGE_OK && nt > 1) {
        /* Python would keep the last value of a repeated key; such a file is not a torch.save output. */
        tz_pickle_tensor *sorted = malloc(nt * sizeof *sorted);
        if (!sorted)
            rc = medge_err(MEDGE_ERR_NOMEM, "pickle: out of memory");
        else {
            memcpy(sorted, ts, nt * sizeof *sorted);
            qsort(sorted, nt, sizeof *sorted, cmp_names);
            for (size_t k = 1; k < nt && rc == MEDGE_OK; k++)
                if (cmp_names(&sorted[k - 1], &sorted[k]) == 0)
                    rc = medge_err(MEDGE_ERR_FORMAT, "pickle: key '%.*s' appears twice",
                                   sorted[k].name_len > 100 ? 100 : (int)sorted[k].name_len, sorted[k].name);
            free(sorted);
        }
    }
    machine_free(&m);
    if (rc != MEDGE_OK) {
        free(ts);
        return rc;
    }
    *out = ts;
    *n_out = nt;
    return MEDGE_OK;
}

/* ------------------------------------------------------------------ zip */

typedef struct zentry {
    const char *name;
    size_t name_len;
    uint64_t size;
    uint64_t data_off;
} zentry;

struct tz_file {
    medge_map map;
    bool mapped;
    const uint8_t *data;
    uint64_t size;
    tz_tensor *tensors;
    size_t n;
    char *names;
};

static medge_status zip_entries(const uint8_t *d, uint64_t size, zentry **out, size_t *n_out)
{
    if (size < 4 || memcmp(d, "PK\x03\x04", 4) != 0)
        return medge_err(MEDGE_ERR_FORMAT, "not a zip archive (PyTorch checkpoints are zip files since torch 1.6; "
                                           "the legacy torch.save format is not supported)");
    if (size < 22)
        return medge_err(MEDGE_ERR_FORMAT, "zip: too short for an end record");
    uint64_t eocd = UINT64_MAX;
    uint64_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (uint64_t k = size - 22 + 1; k-- > lo;)
        if (rd_u32(d + k) == 0x06054b50u) {
            eocd = k;
            break;
        }
    if (eocd == UINT64_MAX)
        return medge_err(MEDGE_ERR_FORMAT, "zip: end of central directory not found");
    uint64_t count = rd_u16(d + eocd + 10), cd_size = rd_u32(d + eocd + 12), cd_off = rd_u32(d + eocd + 16);
    if (rd_u16(d + eocd + 4) != 0 && rd_u16(d + eocd + 4) != 0xFFFF)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "zip: multi-disk archives are not supported");
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        if (eocd < 20 || rd_u32(d + eocd - 20) != 0x07064b50u)
            return medge_err(MEDGE_ERR_FORMAT, "zip: ZIP64 values without a ZIP64 locator");
        uint64_t z = rd_u64(d + eocd - 20 + 8);
        if (z > size || size - z < 56 || rd_u32(d + z) != 0x06064b50u)
            return medge_err(MEDGE_ERR_FORMAT, "zip: bad ZIP64 end record offset");
        count = rd_u64(d + z + 32);
        cd_size = rd_u64(d + z + 40);
        cd_off = rd_u64(d + z + 48);
    }
    if (cd_off > size || cd_size > size - cd_off)
        return medge_err(MEDGE_ERR_FORMAT, "zip: central directory outside the file");
    if (count > cd_size / 46)
        return medge_err(MEDGE_ERR_FORMAT, "zip: %llu entries cannot fit a %llu-byte central directory",
                         (unsigned long long)count, (unsigned long long)cd_size);
    zentry *es = calloc(count ? (size_t)count : 1, sizeof *es);
    if (!es)
        return medge_err(MEDGE_ERR_NOMEM, "zip: out of memory");
    const uint8_t *p = d + cd_off, *end = d + cd_off + cd_size;
    medge_status rc = MEDGE_OK;
    for (uint64_t i = 0; i < count; i++) {
        if ((size_t)(end - p) < 46 || rd_u32(p) != 0x02014b50u) {
            rc = medge_err(MEDGE_ERR_FORMAT, "zip: bad central directory entry %llu", (unsigned long long)i);
            break;
        }
        uint16_t flags = rd_u16(p + 8), method = rd_u16(p + 10);
        uint64_t csize = rd_u32(p + 20), usize = rd_u32(p + 24), lho = rd_u32(p + 42);
        size_t nl = rd_u16(p + 28), xl = rd_u16(p + 30), cl = rd_u16(p + 32);
        if ((size_t)(end - p) - 46 < nl + xl + cl) {
            rc = medge_err(MEDGE_ERR_FORMAT, "zip: central directory entry %llu overruns", (unsigned long long)i);
            break;
        }
        const char *name = (const char *)p + 46;
        /* ZIP64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in order. */
        const uint8_t *x = p + 46 + nl, *xe = x + xl;
        while (xe - x >= 4) {
            uint16_t tag = rd_u16(x), tl = rd_u16(x + 2);
            if ((size_t)(xe - x - 4) < tl)
                break;
            if (tag == 1) {
                const uint8_t *q = x + 4, *qe = q + tl;
                uint64_t *fields[3] = {&usize, &csize, &lho};
                for (int f = 0; f < 3; f++)
                    if (*fields[f] == 0xFFFFFFFFu) {
                        if (qe - q < 8) {
                            rc = medge_err(MEDGE_ERR_FORMAT, "zip: short ZIP64 extra field");
                            break;
                        }
                        *fields[f] = rd_u64(q);
                        q += 8;
                    }
            }
            x += 4 + tl;
        }
        if (rc != MEDGE_OK)
            break;
        int nn = nl > 200 ? 200 : (int)nl;
        if (flags & 1) {
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "zip: entry '%.*s' is encrypted", nn, name);
            break;
        }
        if (method != 0 || csize != usize) {
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "zip: entry '%.*s' is compressed (method %u); PyTorch stores entries",
                           nn, name, method);
            break;
        }
        if (lho > size || size - lho < 30 || rd_u32(d + lho) != 0x04034b50u) {
            rc = medge_err(MEDGE_ERR_FORMAT, "zip: bad local header of '%.*s'", nn, name);
            break;
        }
        /* Data starts after the local header's own name and extra fields (the padding that aligns
         * PyTorch records to 64 bytes lives only in the local extra field). */
        uint64_t off = lho + 30 + (uint64_t)rd_u16(d + lho + 26) + rd_u16(d + lho + 28);
        if (off > size || usize > size - off) {
            rc = medge_err(MEDGE_ERR_FORMAT, "zip: data of '%.*s' extends past the end of the file", nn, name);
            break;
        }
        es[i] = (zentry){name, nl, usize, off};
        p += 46 + nl + xl + cl;
    }
    if (rc != MEDGE_OK) {
        free(es);
        return rc;
    }
    *out = es;
    *n_out = (size_t)count;
    return MEDGE_OK;
}

static const zentry *zfind(const zentry *es, size_t n, const char *pre, size_t npre, const char *mid, const char *s,
                           size_t ns)
{
    size_t nm = strlen(mid);
    for (size_t i = 0; i < n; i++)
        if (es[i].name_len == npre + nm + ns && memcmp(es[i].name, pre, npre) == 0 &&
            memcmp(es[i].name + npre, mid, nm) == 0 && memcmp(es[i].name + npre + nm, s, ns) == 0)
            return &es[i];
    return NULL;
}

static medge_status tz_build(tz_file *f)
{
    zentry *es = NULL;
    size_t ne = 0;
    MEDGE_TRY(zip_entries(f->data, f->size, &es, &ne));
    const zentry *pk = NULL;
    for (size_t i = 0; i < ne && !pk; i++)
        if ((es[i].name_len >= 9 && memcmp(es[i].name + es[i].name_len - 9, "/data.pkl", 9) == 0) ||
            (es[i].name_len == 8 && memcmp(es[i].name, "data.pkl", 8) == 0))
            pk = &es[i];
    if (!pk) {
        free(es);
        return medge_err(MEDGE_ERR_FORMAT, "zip has no data.pkl record: not a PyTorch checkpoint");
    }
    const char *pre = pk->name;
    size_t npre = pk->name_len - 8;
    tz_pickle_tensor *pts = NULL;
    size_t nt = 0;
    medge_status rc = tz_parse_pickle(f->data + pk->data_off, (size_t)pk->size, &pts, &nt);
    size_t names_len = 0;
    for (size_t i = 0; rc == MEDGE_OK && i < nt; i++)
        names_len += pts[i].name_len + 1;
    if (rc == MEDGE_OK) {
        f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
        f->names = malloc(names_len ? names_len : 1);
        if (!f->tensors || !f->names)
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    char *np = f->names;
    for (size_t i = 0; rc == MEDGE_OK && i < nt; i++) {
        const tz_pickle_tensor *p = &pts[i];
        tz_tensor *t = &f->tensors[i];
        memcpy(np, p->name, p->name_len);
        np[p->name_len] = 0;
        t->name = np;
        np += p->name_len + 1;
        t->dtype = p->dtype;
        t->n_dims = p->n_dims;
        uint64_t numel = 1, esz = tz_dtype_size(p->dtype);
        bool ok = true;
        for (int k = 0; k < p->n_dims; k++) {
            t->shape[k] = p->shape[k];
            ok = ok && medge_mul_u64(numel, (uint64_t)p->shape[k], &numel);
        }
        /* Row-major contiguity; strides of size-1 dims are arbitrary in PyTorch. */
        uint64_t expect = 1;
        for (int k = p->n_dims - 1; k >= 0 && ok && numel > 0; k--) {
            if (p->shape[k] != 1 && (uint64_t)p->stride[k] != expect) {
                rc = medge_err(MEDGE_ERR_UNSUPPORTED, "tensor '%s' is not contiguous", t->name);
                break;
            }
            ok = medge_mul_u64(expect, (uint64_t)p->shape[k], &expect);
        }
        if (rc != MEDGE_OK)
            break;
        uint64_t nbytes = 0, off = 0, endb = 0;
        if (!ok || !medge_mul_u64(numel, esz, &nbytes) || !medge_mul_u64(p->storage_offset, esz, &off) ||
            !medge_add_u64(off, nbytes, &endb)) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': size overflows", t->name);
            break;
        }
        const zentry *z = zfind(es, ne, pre, npre, "data/", p->key, p->key_len);
        if (!z) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': storage record data/%.*s is missing", t->name,
                           p->key_len > 40 ? 40 : (int)p->key_len, p->key);
            break;
        }
        if (endb > z->size) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s' needs %llu bytes but its storage has %llu", t->name,
                           (unsigned long long)endb, (unsigned long long)z->size);
            break;
        }
        t->numel = numel;
        t->nbytes = nbytes;
        t->data = f->data + z->data_off + off;
    }
    if (rc == MEDGE_OK)
        f->n = nt;
    free(pts);
    free(es);
    return rc;
}

medge_status tz_open_memory(const void *buf, size_t size, tz_file **out)
{
    *out = NULL;
    tz_file *f = calloc(1, sizeof *f);
    if (!f)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    f->data = buf;
    f->size = size;
    medge_status rc = tz_build(f);
    if (rc != MEDGE_OK) {
        tz_close(f);
        return rc;
    }
    *out = f;
    return MEDGE_OK;
}

medge_status tz_open(const char *path, tz_file **out)
{
    *out = NULL;
    tz_file *f = calloc(1, sizeof *f);
    if (!f)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = medge_map_file(path, &f->map);
    if (rc != MEDGE_OK) {
        free(f);
        return rc;
    }
    f->mapped = true;
    f->data = f->map.data;
    f->size = f->map.size;
    rc = tz_build(f);
    if (rc != MEDGE_OK) {
        tz_close(f);
        return medge_err_prefix(rc, "%s", path);
    }
    *out = f;
    return MEDGE_OK;
}

void tz_close(tz_file *f)
{
    if (!f)
        return;
    if (f->mapped)
        medge_unmap(&f->map);
    free(f->tensors);
    free(f->names);
    free(f);
}

size_t tz_count(const tz_file *f) { return f->n; }
const tz_tensor *tz_at(const tz_file *f, size_t i) { return i < f->n ? &f->tensors[i] : NULL; }

const tz_tensor *tz_find(const tz_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

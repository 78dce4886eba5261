/* The budget ledger's hot operations in C: reserve, settle and add on the mapped counters file
 * (counter_map.py), under the process's lock and the file's lock (a robust, process-shared mutex in the
 * file's header), with the same layout and the same arithmetic as counter_map.py's Python path, in far
 * fewer instructions than the interpreter runs.
 *
 * A Gate is the in-process lock, the file's lock (its own mapping of the header, which stays where it is
 * while the counters are remapped) and the view of one mapping. Its operations never wait and never call
 * into Python while they hold the locks: when a lock is taken, a sweep is due, or a slot lies past the
 * mapping, they answer Ellipsis and counter_map.py does the work in Python, through enter() and leave(),
 * which wait (without the GIL) and so serialise with the C path. Optional: built when a C compiler is
 * there; without it, counter_map.py runs everything in Python. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* the layout (counter_map.py checks LAYOUT against its own) */
#define HEADER_WORDS 16
/* the file's lock: a pthread mutex in header words 8 to 15 */
#define LOCK_AT 8
_Static_assert(sizeof(pthread_mutex_t) <= (HEADER_WORDS - LOCK_AT) * 8, "the mutex fits the header");
/* how long a wait for the file's lock sleeps before it looks for a signal to handle (ns) */
#define LOCK_WAIT_SLICE_NS 50000000L
/* whether the C library can wait for a mutex on the monotonic clock (pthread_mutex_clocklock) */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
#define HAVE_CLOCKLOCK 1
#define LOCK_WAIT_CLOCK CLOCK_MONOTONIC
#else
#define LOCK_WAIT_CLOCK CLOCK_REALTIME
#endif
#define ENTRY_WORDS 5
#define COUNTER_WORDS 4
#define INDEX_BITS 20
#define INDEX_MASK ((INT64_C(1) << INDEX_BITS) - 1)
/* header words */
#define LIVE 4
#define EARLIEST 5
#define HINT 6
#define TOP 7
/* a settle is published without the lock only while its lease has longer than this to run: a sweep, which
 * drops expired reservations with plain stores, can then never meet it */
#define SETTLE_MARGIN_S 2.0

/* "do it in Python" */
#define RETURN_SLOW return Py_NewRef(Py_Ellipsis)

/* every word is read as the one type it holds, through this union */
typedef union {
    int64_t q;
    double d;
} Word;

typedef struct {
    PyObject_HEAD
    PyThread_type_lock lock;
    int fd;                 /* -1 while the file is not open */
    pthread_mutex_t *mutex; /* the file's lock, in the header mapped on its own; NULL while not open */
    void *header;           /* that mapping */
    int file_locked;        /* whether the thread holding lock holds the file's lock too */
    int unmap_on_leave;     /* the file was closed while its lock was held: let go of it after leave() */
    int viewing;            /* whether view holds the mapping */
    Py_buffer view;
    int64_t slots;       /* reservation entries */
    int64_t capacity;    /* counter slots mapped */
    int64_t counters_at; /* the first counter's word */
    uint64_t rng;        /* xorshift64 state: the random part of reservation tokens */
} Gate;

static double wall_clock(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static int64_t load_token(Word *w, int64_t e)
{
    return __atomic_load_n(&w[e].q, __ATOMIC_ACQUIRE);
}

/* A settled entry's token is the bitwise NOT of its cost's bits: negative, as a cost is never below 0. */
static int64_t settled_token(double actual)
{
    uint64_t bits;
    memcpy(&bits, &actual, sizeof bits);
    return (int64_t)~bits;
}

static double as_double(int64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static double settled_actual(int64_t token)
{
    return as_double(~token);
}

static uint64_t next_random(Gate *g)
{
    uint64_t x = g->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return g->rng = x;
}

/* The mutex's answer, 0 when it is held: a holder that died (a process killed inside an operation) left
 * it owner-dead; it is made consistent and the state taken over as it is, as a dead process's flock was
 * (every operation copes with another's half-done one: a live count off is corrected by a sweep). */
static int took_mutex(pthread_mutex_t *mutex, int rc)
{
    if (rc == EOWNERDEAD) {
        rc = pthread_mutex_consistent(mutex);
        if (rc != 0) {
            pthread_mutex_unlock(mutex);
        }
    }
    return rc;
}

/* The mutex, waiting until ``until`` on LOCK_WAIT_CLOCK at most (the monotonic clock where the C library
 * has pthread_mutex_clocklock: a wall clock set back would stretch a slice, and the signals wait). */
static int timed_lock(pthread_mutex_t *mutex, const struct timespec *until)
{
#ifdef HAVE_CLOCKLOCK
    return pthread_mutex_clocklock(mutex, LOCK_WAIT_CLOCK, until);
#else
    return pthread_mutex_timedlock(mutex, until);
#endif
}

static void slice_end(struct timespec *until)
{
    clock_gettime(LOCK_WAIT_CLOCK, until);
    until->tv_nsec += LOCK_WAIT_SLICE_NS;
    if (until->tv_nsec >= 1000000000L) {
        until->tv_sec += 1;
        until->tv_nsec -= 1000000000L;
    }
}

/* Both locks without waiting: 1 when taken, 0 when either is held elsewhere (or the file is not open). */
static int try_enter(Gate *g)
{
    if (g->mutex == NULL || !g->viewing || !PyThread_acquire_lock(g->lock, NOWAIT_LOCK)) {
        return 0;
    }
    if (took_mutex(g->mutex, pthread_mutex_trylock(g->mutex)) != 0) {
        PyThread_release_lock(g->lock);
        return 0;
    }
    return 1;
}

static void leave_both(Gate *g)
{
    pthread_mutex_unlock(g->mutex);
    PyThread_release_lock(g->lock);
}

/* Both locks, for an operation on the counter in ``slot``: the mapping's words, or NULL (nothing held)
 * when the operation must be done in Python (a lock held elsewhere, the slot past this mapping). */
static Word *enter_slot(Gate *g, int64_t slot)
{
    if (slot < 0 || !try_enter(g)) {
        return NULL;
    }
    if (slot >= g->capacity) {
        leave_both(g);
        return NULL;
    }
    return (Word *)g->view.buf;
}

/* A robust, process-shared, error-checking mutex at ``mutex`` (error-checking: a Python gate interrupted
 * while taking it can tell whether it holds it, see gate.py); 0 or the error. */
static int make_mutex(pthread_mutex_t *mutex)
{
    pthread_mutexattr_t attributes;
    int rc = pthread_mutexattr_init(&attributes);
    if (rc != 0) {
        return rc;
    }
    rc = pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    if (rc == 0) {
        rc = pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    }
    if (rc == 0) {
        rc = pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK);
    }
    if (rc == 0) {
        rc = pthread_mutex_init(mutex, &attributes);
    }
    pthread_mutexattr_destroy(&attributes);
    return rc;
}

/* The file's lock, waiting without the GIL when another thread or process holds it (in slices, a signal's
 * handler run between two); -1 with an exception set. The caller holds the process's lock. */
static int lock_file(Gate *g)
{
    int rc = took_mutex(g->mutex, pthread_mutex_trylock(g->mutex));
    while (rc == EBUSY || rc == ETIMEDOUT) {
        if (rc == ETIMEDOUT && PyErr_CheckSignals() < 0) {
            return -1;
        }
        struct timespec until;
        slice_end(&until);
        Py_BEGIN_ALLOW_THREADS
        rc = took_mutex(g->mutex, timed_lock(g->mutex, &until));
        Py_END_ALLOW_THREADS
    }
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    g->file_locked = 1;
    return 0;
}

/* Map the header of the file open as ``fd`` on its own: the file's lock stays at one address while the
 * counters are remapped (a robust mutex must not move while held). NULL with an exception set. */
static void *map_header(int fd)
{
    void *header = mmap(NULL, HEADER_WORDS * sizeof(Word), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (header == MAP_FAILED) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    return header;
}

static void unmap_header(Gate *g)
{
    if (g->header != NULL) {
        munmap(g->header, HEADER_WORDS * sizeof(Word));
    }
    g->header = NULL;
    g->mutex = NULL;
    g->unmap_on_leave = 0;
}

static int parse_int(PyObject *arg, int64_t *out)
{
    long long value = PyLong_AsLongLong(arg);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (int64_t)value;
    return 0;
}

static int parse_float(PyObject *arg, double *out)
{
    double value = PyFloat_AsDouble(arg);
    if (value == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    *out = value;
    return 0;
}

static int check_nargs(Py_ssize_t nargs, Py_ssize_t wanted, const char *name)
{
    if (nargs != wanted) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, wanted, nargs);
        return -1;
    }
    return 0;
}

/* -- the gate as counter_map.py's Python path uses it -- */

static PyObject *Gate_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Gate *self = (Gate *)PyType_GenericNew(type, args, kwds);
    if (self == NULL) {
        return NULL;
    }
    self->fd = -1;
    self->rng = UINT64_C(0x9E3779B97F4A7C15);
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static int Gate_init(Gate *self, PyObject *args, PyObject *kwds)
{
    unsigned long long seed;
    static char *keywords[] = {"seed", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "K", keywords, &seed)) {
        return -1;
    }
    if (seed) {
        self->rng = (uint64_t)seed;
    }
    return 0;
}

static void release_view(Gate *g)
{
    if (g->viewing) {
        g->viewing = 0;
        PyBuffer_Release(&g->view);
    }
}

static void Gate_dealloc(Gate *self)
{
    PyTypeObject *type = Py_TYPE(self);
    release_view(self);
    /* never unlocked here (a gate dropped by a forked child may show its parent's hold), nor unmapped while
     * held (the thread's robust list points into it): that one page is left mapped */
    if (!self->file_locked) {
        unmap_header(self);
    }
    if (self->lock != NULL) {
        PyThread_free_lock(self->lock);
    }
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(attach_doc, "attach(mapping, fd, slots, capacity, counters_at): view a (re)mapping of the file.");

static PyObject *Gate_attach(Gate *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t fd, slots, capacity, counters_at;
    if (check_nargs(nargs, 5, "attach") < 0 || parse_int(args[1], &fd) < 0 || parse_int(args[2], &slots) < 0
        || parse_int(args[3], &capacity) < 0 || parse_int(args[4], &counters_at) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    if (view.len < (counters_at + capacity * COUNTER_WORDS) * (Py_ssize_t)sizeof(Word)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "the mapping is shorter than its counters");
        return NULL;
    }
    if (self->fd != (int)fd || self->mutex == NULL) {
        if (self->file_locked) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_RuntimeError, "another file attached while this one's lock is held");
            return NULL;
        }
        void *header = map_header((int)fd);
        if (header == NULL) {
            PyBuffer_Release(&view);
            return NULL;
        }
        unmap_header(self);
        self->header = header;
        self->mutex = (pthread_mutex_t *)((Word *)header + LOCK_AT);
    }
    release_view(self);
    self->view = view;
    self->viewing = 1;
    self->fd = (int)fd;
    self->slots = slots;
    self->capacity = capacity;
    self->counters_at = counters_at;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(detach_doc, "detach(closing): let go of the mapping (and, closing, of the file) before it is closed.");

static PyObject *Gate_detach(Gate *self, PyObject *closing)
{
    int close_too = PyObject_IsTrue(closing);
    if (close_too < 0) {
        return NULL;
    }
    release_view(self);
    if (close_too) {
        self->fd = -1;
        if (self->file_locked) {
            self->unmap_on_leave = 1;
        }
        else {
            unmap_header(self);
        }
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(enter_doc, "enter() -> bool: take the process's lock, then the file's lock when the file is open (True).");

static PyObject *Gate_enter(Gate *self, PyObject *Py_UNUSED(unused))
{
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        for (;;) { /* as threading.Lock waits: without the GIL, a signal's handler run in between */
            PyLockStatus got;
            Py_BEGIN_ALLOW_THREADS
            got = PyThread_acquire_lock_timed(self->lock, -1, 1);
            Py_END_ALLOW_THREADS
            if (got == PY_LOCK_ACQUIRED) {
                break;
            }
            if (PyErr_CheckSignals() < 0) {
                return NULL;
            }
        }
    }
    if (self->mutex == NULL) {
        Py_RETURN_FALSE;
    }
    if (lock_file(self) < 0) {
        PyThread_release_lock(self->lock);
        return NULL;
    }
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(lock_file_doc, "lock_file(): take the file's lock (after enter() answered False and the file was opened).");

static PyObject *Gate_lock_file(Gate *self, PyObject *Py_UNUSED(unused))
{
    if (self->mutex == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the counters file is not open");
        return NULL;
    }
    if (lock_file(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(leave_doc, "leave(): release the file's lock (when held), then the process's lock.");

static PyObject *Gate_leave(Gate *self, PyObject *Py_UNUSED(unused))
{
    if (self->file_locked) {
        self->file_locked = 0;
        pthread_mutex_unlock(self->mutex);
        if (self->unmap_on_leave) {
            unmap_header(self);
        }
    }
    PyThread_release_lock(self->lock);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(init_lock_doc, "init_lock(fd): make the file's lock in a new file's header (under its flock, once).");

static PyObject *Gate_init_lock(PyObject *Py_UNUSED(cls), PyObject *arg)
{
    int64_t fd;
    if (parse_int(arg, &fd) < 0) {
        return NULL;
    }
    void *header = map_header((int)fd);
    if (header == NULL) {
        return NULL;
    }
    int rc = make_mutex((pthread_mutex_t *)((Word *)header + LOCK_AT));
    munmap(header, HEADER_WORDS * sizeof(Word));
    if (rc != 0) {
        errno = rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* -- the hot operations -- */

/* a released reservation's amount off its counter (exactly 0 once none is left) */
static void unhold(Gate *g, Word *w, int64_t slot, int64_t counter_id, double amount)
{
    int64_t c = g->counters_at + slot * COUNTER_WORDS;
    if (w[c].q == counter_id) {
        int64_t count = w[c + 3].q - 1;
        w[c + 3].q = count > 0 ? count : 0;
        w[c + 2].d = count > 0 ? w[c + 2].d - amount : 0.0;
    }
}

/* With the locks held: fold the settles published without the lock into their counters (the cost into
 * the spend first, then the entry freed: a reader without the lock may count a cost twice, never miss it).
 * -1 when a counter lies past the mapping (Python remaps and folds the rest). */
static int apply_settled(Gate *g, Word *w)
{
    int64_t top = w[TOP].q < g->slots ? w[TOP].q : g->slots;
    for (int64_t i = 0; i < top; i++) {
        int64_t e = HEADER_WORDS + i * ENTRY_WORDS;
        int64_t token = load_token(w, e);
        if (token >= 0) {
            continue;
        }
        int64_t slot = w[e + 3].q, counter_id = w[e + 4].q;
        if (slot < 0 || slot >= g->capacity) {
            return -1;
        }
        int64_t c = g->counters_at + slot * COUNTER_WORDS;
        if (w[c].q == counter_id) {
            w[c + 1].d = w[c + 1].d + settled_actual(token);
        }
        unhold(g, w, slot, counter_id, w[e + 1].d);
        __atomic_store_n(&w[e].q, 0, __ATOMIC_RELEASE);
        w[LIVE].q -= 1;
        if (i < w[HINT].q) {
            w[HINT].q = i;
        }
    }
    while (top > 0 && __atomic_load_n(&w[HEADER_WORDS + (top - 1) * ENTRY_WORDS].q, __ATOMIC_ACQUIRE) == 0) {
        top--; /* the entries in use lie below: later scans stop there */
    }
    if (top < w[TOP].q) {
        w[TOP].q = top;
    }
    return 0;
}

PyDoc_STRVAR(reserve_doc,
             "reserve(slot, counter_id, amount, limit, now, expires) -> token | (spent, reserved) | None | ...\n"
             "counter_map.CounterMap.reserve without a sweep; Ellipsis: do it in Python.");

static PyObject *Gate_reserve(Gate *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t slot, counter_id;
    double amount, limit, now, expires;
    if (check_nargs(nargs, 6, "reserve") < 0 || parse_int(args[0], &slot) < 0
        || parse_int(args[1], &counter_id) < 0 || parse_float(args[2], &amount) < 0
        || parse_float(args[3], &limit) < 0 || parse_float(args[4], &now) < 0
        || parse_float(args[5], &expires) < 0) {
        return NULL;
    }
    Word *w = enter_slot(self, slot);
    if (w == NULL) {
        RETURN_SLOW;
    }
    int64_t c = self->counters_at + slot * COUNTER_WORDS, slots = self->slots;
    if (w[c].q != counter_id) {
        leave_both(self);
        Py_RETURN_NONE;
    }
    if (apply_settled(self, w) < 0 || now >= w[EARLIEST].d || w[LIVE].q >= slots) {
        leave_both(self);
        RETURN_SLOW;
    }
    double spent = w[c + 1].d, reserved = w[c + 2].d;
    if (spent + reserved + amount > limit) {
        leave_both(self);
        return Py_BuildValue("(dd)", spent, reserved);
    }
    /* the lowest free entry from the hint (live < slots: there is one) */
    int64_t index = w[HINT].q;
    if (index < 0 || index >= slots) {
        index = 0;
    }
    int64_t e = HEADER_WORDS + index * ENTRY_WORDS;
    for (int64_t looked = 0; w[e].q; looked++) {
        if (looked >= slots) { /* the live count was wrong (a process killed mid-operation): Python sweeps */
            leave_both(self);
            RETURN_SLOW;
        }
        index = index + 1 < slots ? index + 1 : 0;
        e = HEADER_WORDS + index * ENTRY_WORDS;
    }
    int64_t token = (int64_t)(((next_random(self) >> 21) | 1) << INDEX_BITS) | index;
    w[e].q = token;
    w[e + 1].d = amount;
    w[e + 2].d = expires;
    w[e + 3].q = slot;
    w[e + 4].q = counter_id;
    w[c + 2].d = reserved + amount;
    w[c + 3].q += 1;
    w[LIVE].q += 1;
    w[HINT].q = index + 1;
    if (index + 1 > w[TOP].q) {
        w[TOP].q = index + 1;
    }
    if (expires < w[EARLIEST].d) {
        w[EARLIEST].d = expires;
    }
    leave_both(self);
    return PyLong_FromLongLong(token);
}

/* The settle without the locks, when the entry is still this reservation's, on this counter, far from its
 * lease end: its cost published in the entry's token (one compare-and-swap), folded in by the next locked
 * operation of any process. *spent: the counter's spend with every published settle on it (own included);
 * 0 when the locked path must run. */
static int settle_unlocked(Gate *g, Word *w, int64_t token, int64_t e, int64_t slot, int64_t counter_id,
                           double actual, double *spent)
{
    int64_t c = g->counters_at + slot * COUNTER_WORDS;
    if ((token & INDEX_MASK) >= g->slots || slot >= g->capacity || !(actual >= 0.0)
        || load_token(w, e) != token || w[e + 3].q != slot || w[e + 4].q != counter_id
        || w[c].q != counter_id || !(w[e + 2].d - wall_clock() > SETTLE_MARGIN_S)) {
        return 0;
    }
    int64_t expected = token;
    if (!__atomic_compare_exchange_n(&w[e].q, &expected, settled_token(actual + 0.0), 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        return 0;
    }
    int64_t top = __atomic_load_n(&w[TOP].q, __ATOMIC_SEQ_CST);
    double published = 0.0;
    for (int64_t i = 0; i < top && i < g->slots; i++) {
        int64_t f = HEADER_WORDS + i * ENTRY_WORDS;
        int64_t other = __atomic_load_n(&w[f].q, __ATOMIC_SEQ_CST);
        if (other < 0 && w[f + 3].q == slot && w[f + 4].q == counter_id) {
            published += settled_actual(other);
        }
    }
    int64_t bits = __atomic_load_n(&w[c + 1].q, __ATOMIC_SEQ_CST);
    *spent = as_double(bits) + published;
    return 1;
}

PyDoc_STRVAR(settle_doc,
             "settle(token, slot, counter_id, actual) -> spent | None | ...\n"
             "counter_map.CounterMap.settle; Ellipsis: do it in Python.");

static PyObject *Gate_settle(Gate *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t token, slot, counter_id;
    double actual;
    if (check_nargs(nargs, 4, "settle") < 0 || parse_int(args[0], &token) < 0 || parse_int(args[1], &slot) < 0
        || parse_int(args[2], &counter_id) < 0 || parse_float(args[3], &actual) < 0) {
        return NULL;
    }
    int64_t index = token & INDEX_MASK;
    if (slot < 0 || token <= 0 || self->mutex == NULL || !self->viewing) {
        RETURN_SLOW;
    }
    Word *w = (Word *)self->view.buf;
    int64_t e = HEADER_WORDS + index * ENTRY_WORDS;
    int64_t c = self->counters_at + slot * COUNTER_WORDS;
    double spent;
    if (settle_unlocked(self, w, token, e, slot, counter_id, actual, &spent)) {
        return PyFloat_FromDouble(spent);
    }
    if (!try_enter(self)) {
        RETURN_SLOW;
    }
    int held = index < self->slots && w[e].q == token;
    if (slot >= self->capacity || (held && (w[e + 3].q < 0 || w[e + 3].q >= self->capacity))
        || apply_settled(self, w) < 0) {
        leave_both(self);
        RETURN_SLOW;
    }
    if (held) {
        double amount = w[e + 1].d;
        int64_t held_slot = w[e + 3].q, held_counter = w[e + 4].q;
        w[e].q = 0;
        w[LIVE].q -= 1;
        if (index < w[HINT].q) {
            w[HINT].q = index;
        }
        if (held_slot == slot && held_counter == counter_id) {
            if (w[c].q != counter_id) {
                leave_both(self);
                Py_RETURN_NONE;
            }
            unhold(self, w, slot, counter_id, amount);
        }
        else {
            unhold(self, w, held_slot, held_counter, amount);
        }
    }
    /* swept after its lease (what it held was released then), or held: the cost is added */
    if (w[c].q != counter_id) {
        leave_both(self);
        Py_RETURN_NONE;
    }
    spent = w[c + 1].d = w[c + 1].d + actual;
    leave_both(self);
    return PyFloat_FromDouble(spent);
}

PyDoc_STRVAR(apply_doc, "apply() -> bool: fold the published settles in (the caller holds both locks); "
                        "False when one's counter lies past the mapping (the caller remaps and folds it).");

static PyObject *Gate_apply(Gate *self, PyObject *Py_UNUSED(unused))
{
    if (self->fd < 0 || !self->viewing) {
        Py_RETURN_FALSE;
    }
    return PyBool_FromLong(apply_settled(self, (Word *)self->view.buf) == 0);
}

PyDoc_STRVAR(clear_doc, "clear(entry, token) -> bool: free the reservation entry at word ``entry`` if it still holds "
                        "``token`` (compare-and-swap: a settle published meanwhile is kept).");

static PyObject *Gate_clear(Gate *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t entry, token;
    if (check_nargs(nargs, 2, "clear") < 0 || parse_int(args[0], &entry) < 0 || parse_int(args[1], &token) < 0) {
        return NULL;
    }
    if (!self->viewing || entry < HEADER_WORDS || entry >= HEADER_WORDS + self->slots * ENTRY_WORDS) {
        PyErr_SetString(PyExc_ValueError, "not a reservation entry of the mapping");
        return NULL;
    }
    Word *w = (Word *)self->view.buf;
    return PyBool_FromLong(__atomic_compare_exchange_n(&w[entry].q, &token, 0, 0, __ATOMIC_SEQ_CST,
                                                       __ATOMIC_SEQ_CST));
}

PyDoc_STRVAR(add_doc, "add(slot, counter_id, actual) -> spent | None | ...: counter_map.CounterMap.add.");

static PyObject *Gate_add(Gate *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t slot, counter_id;
    double actual;
    if (check_nargs(nargs, 3, "add") < 0 || parse_int(args[0], &slot) < 0 || parse_int(args[1], &counter_id) < 0
        || parse_float(args[2], &actual) < 0) {
        return NULL;
    }
    Word *w = enter_slot(self, slot);
    if (w == NULL) {
        RETURN_SLOW;
    }
    int64_t c = self->counters_at + slot * COUNTER_WORDS;
    if (apply_settled(self, w) < 0) {
        leave_both(self);
        RETURN_SLOW;
    }
    if (w[c].q != counter_id) {
        leave_both(self);
        Py_RETURN_NONE;
    }
    double spent = w[c + 1].d = w[c + 1].d + actual;
    leave_both(self);
    return PyFloat_FromDouble(spent);
}

static PyMethodDef Gate_methods[] = {
    {"attach", (PyCFunction)(void (*)(void))Gate_attach, METH_FASTCALL, attach_doc},
    {"detach", (PyCFunction)Gate_detach, METH_O, detach_doc},
    {"enter", (PyCFunction)Gate_enter, METH_NOARGS, enter_doc},
    {"lock_file", (PyCFunction)Gate_lock_file, METH_NOARGS, lock_file_doc},
    {"leave", (PyCFunction)Gate_leave, METH_NOARGS, leave_doc},
    {"init_lock", (PyCFunction)Gate_init_lock, METH_O | METH_STATIC, init_lock_doc},
    {"reserve", (PyCFunction)(void (*)(void))Gate_reserve, METH_FASTCALL, reserve_doc},
    {"settle", (PyCFunction)(void (*)(void))Gate_settle, METH_FASTCALL, settle_doc},
    {"add", (PyCFunction)(void (*)(void))Gate_add, METH_FASTCALL, add_doc},
    {"apply", (PyCFunction)Gate_apply, METH_NOARGS, apply_doc},
    {"clear", (PyCFunction)(void (*)(void))Gate_clear, METH_FASTCALL, clear_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Gate_slots[] = {
    {Py_tp_doc, "The process's lock and the view of one mapped counters file, with its hot operations."},
    {Py_tp_new, Gate_new},
    {Py_tp_init, Gate_init},
    {Py_tp_dealloc, Gate_dealloc},
    {Py_tp_methods, Gate_methods},
    {0, NULL},
};

static PyType_Spec Gate_spec = {
    .name = "ai_usage_monitor.budgets._ledger_ops.Gate",
    .basicsize = sizeof(Gate),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = Gate_slots,
};

static int module_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &Gate_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "Gate", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    PyObject *layout = Py_BuildValue("(iiiii)", HEADER_WORDS, ENTRY_WORDS, COUNTER_WORDS, INDEX_BITS, LOCK_AT);
    if (layout == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "LAYOUT", layout) < 0) {
        Py_DECREF(layout);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ledger_ops",
    .m_doc = "The budget ledger's hot operations on the mapped counters file (see counter_map.py).",
    .m_size = 0,
    .m_slots = module_slots,
};

PyMODINIT_FUNC PyInit__ledger_ops(void)
{
    return PyModuleDef_Init(&module_def);
}

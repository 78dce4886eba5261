/* The input bound of the usual chat request in C (worst_case.py's input_token_bound): every message a
 * dict of text, its UTF-8 bytes counted from the string's own storage, without encoding it.
 *
 * Any other shape (a part list, a non-string value, a non-dict message) answers None and the Python loop
 * measures it: the answer, when there is one, is the same number. Optional, like _ledger_ops. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* The length of ``text`` encoded as UTF-8 with lone surrogates passed through (3 bytes each, as Python's
 * "surrogatepass" writes them). */
static Py_ssize_t utf8_size(PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), size = n;
    if (PyUnicode_IS_ASCII(text)) {
        return size;
    }
    const void *data = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND: {
        const Py_UCS1 *chars = (const Py_UCS1 *)data;
        for (Py_ssize_t i = 0; i < n; i++) {
            size += chars[i] >= 0x80;
        }
        return size;
    }
    case PyUnicode_2BYTE_KIND: {
        const Py_UCS2 *chars = (const Py_UCS2 *)data;
        for (Py_ssize_t i = 0; i < n; i++) {
            size += (chars[i] >= 0x80) + (chars[i] >= 0x800);
        }
        return size;
    }
    default: {
        const Py_UCS4 *chars = (const Py_UCS4 *)data;
        for (Py_ssize_t i = 0; i < n; i++) {
            size += (chars[i] >= 0x80) + (chars[i] >= 0x800) + (chars[i] >= 0x10000);
        }
        return size;
    }
    }
}

PyDoc_STRVAR(messages_bound_doc,
             "messages_bound(messages, request_overhead, message_overhead) -> int | None\n"
             "input_token_bound(messages) for a list of dicts whose values (but 'role') are all strings; "
             "None for any other shape.");

static PyObject *messages_bound(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "messages_bound() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *messages = args[0];
    long long request_overhead = PyLong_AsLongLong(args[1]);
    if (request_overhead == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long long message_overhead = PyLong_AsLongLong(args[2]);
    if (message_overhead == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_CheckExact(messages)) {
        Py_RETURN_NONE;
    }
    long long tokens = request_overhead;
    /* no Python code runs below (exact dicts and strings only), so the list and its dicts cannot change */
    for (Py_ssize_t m = 0; m < PyList_GET_SIZE(messages); m++) {
        PyObject *message = PyList_GET_ITEM(messages, m);
        if (!PyDict_CheckExact(message)) {
            Py_RETURN_NONE;
        }
        tokens += message_overhead;
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(message, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key)) {
                Py_RETURN_NONE;
            }
            if (PyUnicode_GET_LENGTH(key) == 4 && PyUnicode_CompareWithASCIIString(key, "role") == 0) {
                continue;
            }
            if (!PyUnicode_CheckExact(value)) {
                Py_RETURN_NONE;
            }
#if PY_VERSION_HEX < 0x030C0000
            if (PyUnicode_READY(value) < 0) { /* a legacy string made through the old Py_UNICODE API */
                return NULL;
            }
#endif
            tokens += utf8_size(value);
        }
    }
    return PyLong_FromLongLong(tokens);
}

static PyMethodDef module_methods[] = {
    {"messages_bound", (PyCFunction)(void (*)(void))messages_bound, METH_FASTCALL, messages_bound_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_text_bytes",
    .m_doc = "The input bound of the usual chat request, counted in C (see worst_case.py).",
    .m_size = 0,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__text_bytes(void)
{
    return PyModuleDef_Init(&module_def);
}

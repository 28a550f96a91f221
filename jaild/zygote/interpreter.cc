#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "jaild/zygote/interpreter.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace jaild::zygote {

namespace {

// A new reference, or the error as text (and the Python error cleared).
std::string error_text() {
    PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
    PyErr_Fetch(&type, &value, &trace);
    std::string text = "unknown error";
    if (value) {
        if (PyObject* str = PyObject_Str(value)) {
            if (const char* utf8 = PyUnicode_AsUTF8(str)) text = utf8;
            Py_DECREF(str);
        }
    }
    if (type) text = std::string(reinterpret_cast<PyTypeObject*>(type)->tp_name) + ": " + text;
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(trace);
    PyErr_Clear();
    return text;
}

void check_status(PyStatus status, const char* what) {
    if (PyStatus_Exception(status))
        throw std::runtime_error(std::string(what) + ": " + (status.err_msg ? status.err_msg : "failed"));
}

// The interpreter a cold run's `python3 -u` would be: Debian's /usr/bin/python3 (sys.executable and the
// prefixes come from it), the environment read as usual, Python's own signal handlers.
void initialize() {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    config.install_signal_handlers = 1;
    config.buffered_stdio = 0;  // the language file runs `python3 -u`
    check_status(PyConfig_SetString(&config, &config.program_name, L"/usr/bin/python3"), "program name");
    check_status(PyConfig_SetString(&config, &config.executable, L"/usr/bin/python3"), "executable");
    wchar_t* argv[] = {const_cast<wchar_t*>(L"python3")};
    check_status(PyConfig_SetArgv(&config, 1, argv), "argv");
    const PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    check_status(status, "starting the interpreter");
}

PyObject* g_launcher = nullptr;  // jaild_warm, imported at start

}  // namespace

Preloaded start_interpreter(const std::string& support_dir, const std::vector<std::string>& preload) {
    initialize();
    Preloaded out;
    const char* version = Py_GetVersion();
    out.version.assign(version, std::strcspn(version, " "));
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, nullptr, &out.signals[static_cast<std::size_t>(sig)]);

    PyObject* path = PySys_GetObject("path");  // borrowed
    PyObject* dir = PyUnicode_DecodeFSDefault(support_dir.c_str());
    if (!path || !dir || PyList_Insert(path, 0, dir) != 0) throw std::runtime_error("sys.path: " + error_text());
    g_launcher = PyImport_ImportModule("jaild_warm");
    if (!g_launcher) throw std::runtime_error("importing jaild_warm from " + support_dir + ": " + error_text());
    for (const std::string& module : preload) {
        PyObject* imported = PyImport_ImportModule(module.c_str());
        if (imported)
            Py_DECREF(imported);
        else
            out.failed.push_back(module + " (" + error_text() + ")");
    }
    // The support directory is jaild's, not the runs': a cold run's sys.path does not have it.
    const Py_ssize_t at = PySequence_Index(path, dir);
    if (at >= 0) PySequence_DelItem(path, at);
    PyErr_Clear();
    Py_DECREF(dir);
    PyObject* prepared = PyObject_CallMethod(g_launcher, "prepare", nullptr);
    if (!prepared) throw std::runtime_error("jaild_warm.prepare(): " + error_text());
    Py_DECREF(prepared);
    return out;
}

void before_fork() { PyOS_BeforeFork(); }
void after_fork_in_parent() { PyOS_AfterFork_Parent(); }

[[noreturn]] void run_program(char* const* argv, char* const* envp) {
    PyOS_AfterFork_Child();
    PyObject* args = PyList_New(0);
    PyObject* env = PyList_New(0);
    for (char* const* arg = argv; args && *arg; ++arg) {
        PyObject* item = PyUnicode_DecodeFSDefault(*arg);
        if (!item || PyList_Append(args, item) != 0) Py_CLEAR(args);
        Py_XDECREF(item);
    }
    for (char* const* entry = envp; env && *entry; ++entry) {
        PyObject* item = PyUnicode_DecodeFSDefault(*entry);
        if (!item || PyList_Append(env, item) != 0) Py_CLEAR(env);
        Py_XDECREF(item);
    }
    if (args && env) PyObject_CallMethod(g_launcher, "run", "OO", args, env);
    // run() ends the process; getting here is jaild's bug, not the program's.
    std::fprintf(stderr, "jaild-zygote: the warm start failed: %s\n", error_text().c_str());
    std::fflush(stderr);
    ::_exit(1);
}

}  // namespace jaild::zygote

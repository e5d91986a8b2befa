/*
 * What a server costs, read from /proc: the CPU time (utime + stime) and
 * the resident memory (VmRSS) of a process and of its children (nginx's
 * master and its workers; Node.js is one process). Linux only.
 */
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

struct ProcSample {
    bool ok = false;
    double cpu_s = 0;          /* utime + stime of all of them, seconds */
    double sys_s = 0;          /* stime alone: the kernel's share */
    long rss_kb = 0;           /* sum of VmRSS */
    long pss_kb = 0;           /* sum of Pss: shared pages split, not
                                  counted once per process mapping them */
    std::vector<int> pids;     /* the process first, then its children */
    std::vector<int> fds;      /* open descriptors of each (sockets mostly) */
};

inline int count_fds(int pid)
{
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR* d = opendir(path);
    if (d == nullptr) {
        return -1;
    }
    int n = 0;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Fields of /proc/PID/stat after the command name: field 3 onwards. */
inline bool read_stat(int pid, int& ppid, double& cpu_s, double* sys_s = nullptr)
{
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    std::ifstream f(path);
    if (!f) {
        return false;
    }
    std::string line;
    std::getline(f, line);
    /* the command name may hold spaces and parentheses: cut at the last ')' */
    auto close = line.rfind(')');
    if (close == std::string::npos) {
        return false;
    }
    std::istringstream in(line.substr(close + 2));
    std::string field;
    std::vector<std::string> v;
    while (in >> field) {
        v.push_back(field);
    }
    /* v[0] is field 3 (state): ppid is field 4, utime 14, stime 15 */
    if (v.size() < 13) {
        return false;
    }
    static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    ppid = std::atoi(v[1].c_str());
    cpu_s = (std::strtod(v[11].c_str(), nullptr)
             + std::strtod(v[12].c_str(), nullptr)) / tick;
    if (sys_s != nullptr) {
        *sys_s = std::strtod(v[12].c_str(), nullptr) / tick;
    }
    return true;
}

inline long read_rss_kb(int pid)
{
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/status", pid);
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        if (line.compare(0, 6, "VmRSS:") == 0) {
            return std::atol(line.c_str() + 6);
        }
    }
    return 0;
}

/* Proportional set size: a page shared by n processes counts 1/n in each,
   so that the sum over nginx's master and workers counts the shared zone
   once (VmRSS counts it in every process that touched it). */
inline long read_pss_kb(int pid)
{
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        if (line.compare(0, 4, "Pss:") == 0) {
            return std::atol(line.c_str() + 4);
        }
    }
    return 0;
}

/* The process `pid` and its direct children (nginx: master and workers). */
inline ProcSample sample_server(int pid)
{
    ProcSample s;
    int ppid = 0;
    double cpu = 0, sys = 0;
    if (pid <= 0 || !read_stat(pid, ppid, cpu, &sys)) {
        return s;
    }
    s.ok = true;
    s.pids.push_back(pid);
    s.fds.push_back(count_fds(pid));
    s.cpu_s += cpu;
    s.sys_s += sys;
    s.rss_kb += read_rss_kb(pid);
    s.pss_kb += read_pss_kb(pid);

    DIR* d = opendir("/proc");
    if (d == nullptr) {
        return s;
    }
    while (dirent* e = readdir(d)) {
        char* end = nullptr;
        long child = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || child == pid) {
            continue;
        }
        if (read_stat(static_cast<int>(child), ppid, cpu, &sys) && ppid == pid) {
            s.pids.push_back(static_cast<int>(child));
            s.fds.push_back(count_fds(static_cast<int>(child)));
            s.cpu_s += cpu;
            s.sys_s += sys;
            s.rss_kb += read_rss_kb(static_cast<int>(child));
            s.pss_kb += read_pss_kb(static_cast<int>(child));
        }
    }
    closedir(d);
    return s;
}

/* CPU seconds the whole machine spent busy (all cores), from /proc/stat:
   what else ran during a measurement shows as busy minus ours. */
inline double machine_busy_s()
{
    std::ifstream f("/proc/stat");
    std::string cpu;
    f >> cpu;
    if (cpu != "cpu") {
        return 0;
    }
    double v[10] = {};
    for (double& x : v) {
        f >> x;
    }
    static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    /* user nice system idle iowait irq softirq steal (guest is in user) */
    double busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return busy / tick;
}

}  // namespace bench

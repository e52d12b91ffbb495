// ThreadSanitizer's view of Debian's abseil synchronisation, linked into the
// TSan test build only (RECBANDIT_SANITIZE=thread).
//
// Debian builds libabsl_synchronization without TSan, so a hand-off through
// absl::Mutex, absl::CondVar or absl::Notification creates no happens-before
// edge that TSan can see, and every such hand-off is reported as a race.
// This file interposes the library's entry points (the executable's
// definitions win over the shared library's, for calls from the library
// too): each calls the library's own function (found with dlsym(RTLD_NEXT))
// and tells TSan that a lock acquires and an unlock releases the mutex's
// address. A Condition is evaluated by the library while the mutex is held,
// by the waiter or by whichever thread unlocks, so each evaluation is wrapped
// to acquire before and release after it (the waiter's own evaluation then
// orders its reads before the next holder's writes). Readers are modelled as
// writers (an extra edge between readers can hide a race only between two
// threads that write under a reader lock).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

#define RECBANDIT_STRINGIFY_(x) #x
#define RECBANDIT_STRINGIFY(x) RECBANDIT_STRINGIFY_(x)

namespace {

// Returns the library's definition of the abseil symbol whose mangled name
// after "_ZN[K]4absl<inline namespace>" is `rest`; aborts when missing (a
// different abseil: the shim must be updated, not silently skipped).
void* Real(const char* rest, bool is_const = false) {
  const char* ns = RECBANDIT_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = std::string(is_const ? "_ZNK4absl" : "_ZN4absl") +
                           std::to_string(std::strlen(ns)) + ns + rest;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in abseil\n", name.c_str());
    std::abort();
  }
  return fn;
}

template <typename Fn>
Fn Lookup(const char* rest, bool is_const = false) {
  return reinterpret_cast<Fn>(Real(rest, is_const));
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

namespace {

// A Condition that evaluates `cond` as a critical section of `mu` for TSan.
struct TsanCondition {
  const Condition* cond;
  Mutex* mu;
  static bool Eval(void* self) {
    auto* c = static_cast<TsanCondition*>(self);
    __tsan_acquire(c->mu);
    const bool met = c->cond->Eval();
    __tsan_release(c->mu);
    return met;
  }
  Condition Wrapped() { return Condition(&TsanCondition::Eval, static_cast<void*>(this)); }
};

}  // namespace

using VoidFn = void (*)(Mutex*);
using BoolFn = bool (*)(Mutex*);
using WhenFn = void (*)(Mutex*, const Condition&);
using WhenTimeoutFn = bool (*)(Mutex*, const Condition&, Duration);
using WhenDeadlineFn = bool (*)(Mutex*, const Condition&, Time);

void Mutex::Lock() {
  static const auto real = Lookup<VoidFn>("5Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::ReaderLock() {
  static const auto real = Lookup<VoidFn>("5Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}

bool Mutex::TryLock() {
  static const auto real = Lookup<BoolFn>("5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static const auto real = Lookup<BoolFn>("5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static const auto real = Lookup<VoidFn>("5Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  static const auto real = Lookup<VoidFn>("5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Lookup<WhenFn>("5Mutex8LockWhenERKNS0_9ConditionE");
  TsanCondition c{&cond, this};
  real(this, c.Wrapped());
  __tsan_acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = Lookup<WhenFn>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  TsanCondition c{&cond, this};
  real(this, c.Wrapped());
  __tsan_acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Lookup<WhenTimeoutFn>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  TsanCondition c{&cond, this};
  const bool met = real(this, c.Wrapped(), timeout);
  __tsan_acquire(this);  // locked either way
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real =
      Lookup<WhenDeadlineFn>("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  TsanCondition c{&cond, this};
  const bool met = real(this, c.Wrapped(), deadline);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Lookup<WhenTimeoutFn>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  TsanCondition c{&cond, this};
  const bool met = real(this, c.Wrapped(), timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Lookup<WhenDeadlineFn>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  TsanCondition c{&cond, this};
  const bool met = real(this, c.Wrapped(), deadline);
  __tsan_acquire(this);
  return met;
}

// Await releases the mutex inside the library after a false evaluation of
// the (wrapped, so releasing) condition, and holds it again on return.
void Mutex::Await(const Condition& cond) {
  static const auto real = Lookup<WhenFn>("5Mutex5AwaitERKNS0_9ConditionE");
  TsanCondition c{&cond, this};
  real(this, c.Wrapped());
  __tsan_acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real =
      Lookup<WhenTimeoutFn>("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(this);
  TsanCondition c{&cond, this};
  const bool met = real(this, c.Wrapped(), timeout);
  __tsan_acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real =
      Lookup<WhenDeadlineFn>("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_release(this);
  TsanCondition c{&cond, this};
  const bool met = real(this, c.Wrapped(), deadline);
  __tsan_acquire(this);
  return met;
}

// CondVar waits release `mu` and hold it again on return.
void CondVar::Wait(Mutex* mu) {
  using Fn = void (*)(CondVar*, Mutex*);
  static const auto real = Lookup<Fn>("7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(mu);
  real(this, mu);
  __tsan_acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  using Fn = bool (*)(CondVar*, Mutex*, Duration);
  static const auto real = Lookup<Fn>("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, timeout);
  __tsan_acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  using Fn = bool (*)(CondVar*, Mutex*, Time);
  static const auto real = Lookup<Fn>("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(mu);
  const bool timed_out = real(this, mu, deadline);
  __tsan_acquire(mu);
  return timed_out;
}

// Notify releases the notification; a wait that returns acquires it (also on
// the fast path, where the library takes no lock).
void Notification::Notify() {
  using Fn = void (*)(Notification*);
  static const auto real = Lookup<Fn>("12Notification6NotifyEv");
  __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  using Fn = void (*)(const Notification*);
  static const auto real = Lookup<Fn>("12Notification19WaitForNotificationEv", true);
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  using Fn = bool (*)(const Notification*, Duration);
  static const auto real =
      Lookup<Fn>("12Notification30WaitForNotificationWithTimeoutENS0_8DurationE", true);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  using Fn = bool (*)(const Notification*, Time);
  static const auto real =
      Lookup<Fn>("12Notification31WaitForNotificationWithDeadlineENS0_4TimeE", true);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl

//! The binary's global allocator: the system's, plus a small cache of freed
//! large blocks handed back whole to the next allocation of the same size.
//!
//! A compiled graph run in a loop (training steps, `--bench`, the REPL)
//! allocates its outputs afresh every run, and glibc serves and frees blocks
//! this large with `mmap`/`munmap`: every run then pays one page fault per
//! 4 KiB it writes, about a fifth of the time of a 64 MiB elementwise kernel.
//! Caching machine learning runtimes (XLA's and PyTorch's allocators) keep
//! such buffers for the same reason. The cache is bounded: at most
//! [`SLOTS`] blocks and [`LIMIT`] bytes, and a block that does not fit goes
//! back to the system.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

/// Blocks smaller than this are the system allocator's business (glibc keeps
/// them in its own free lists).
const MIN_BLOCK: usize = 1 << 20;
/// The most bytes the cache holds.
const LIMIT: usize = 1 << 30;
/// The most blocks it holds: a fixed array, since the allocator cannot
/// allocate for its own bookkeeping.
const SLOTS: usize = 32;

pub struct BufferCache;

#[derive(Clone, Copy)]
struct Block {
    ptr: *mut u8,
    size: usize,
    align: usize,
}

struct Blocks {
    slots: [Option<Block>; SLOTS],
    bytes: usize,
}

// SAFETY: the pointers are owned blocks, not shared data; the mutex
// serialises every access to them.
unsafe impl Send for Blocks {}

static CACHE: Mutex<Blocks> = Mutex::new(Blocks {
    slots: [None; SLOTS],
    bytes: 0,
});

impl Blocks {
    fn take(&mut self, layout: Layout) -> Option<*mut u8> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.is_some_and(|b| b.size == layout.size() && b.align == layout.align()))?;
        let block = slot.take()?;
        self.bytes -= block.size;
        Some(block.ptr)
    }

    fn keep(&mut self, ptr: *mut u8, layout: Layout) -> bool {
        if self.bytes + layout.size() > LIMIT {
            return false;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) else {
            return false;
        };
        *slot = Some(Block {
            ptr,
            size: layout.size(),
            align: layout.align(),
        });
        self.bytes += layout.size();
        true
    }
}

fn cached(layout: Layout) -> bool {
    layout.size() >= MIN_BLOCK && layout.size() <= LIMIT
}

// SAFETY: every block comes from `System` with the layout it is returned or
// handed out with (the cache matches size and alignment exactly), so each
// method keeps `System`'s contract.
unsafe impl GlobalAlloc for BufferCache {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if cached(layout) {
            if let Some(ptr) = CACHE.lock().ok().and_then(|mut c| c.take(layout)) {
                return ptr;
            }
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if cached(layout) {
            if let Some(ptr) = CACHE.lock().ok().and_then(|mut c| c.take(layout)) {
                // Writing zeros into mapped pages still beats faulting in new ones.
                ptr.write_bytes(0, layout.size());
                return ptr;
            }
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if cached(layout) && CACHE.lock().is_ok_and(|mut c| c.keep(ptr, layout)) {
            return;
        }
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Every block, cached or not, is the system's with this layout.
        System.realloc(ptr, layout, new_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_large_block_comes_back_for_the_same_layout_and_zeroed_on_request() {
        // An odd size no other test allocates, so no other thread takes it.
        let layout = Layout::from_size_align(MIN_BLOCK + 4093, 64).expect("layout");
        unsafe {
            let a = BufferCache.alloc(layout);
            assert!(!a.is_null());
            a.write_bytes(7, layout.size());
            BufferCache.dealloc(a, layout);
            let b = BufferCache.alloc_zeroed(layout);
            assert_eq!(a, b, "the cached block is reused");
            let bytes = std::slice::from_raw_parts(b, layout.size());
            assert!(bytes.iter().all(|&x| x == 0));
            BufferCache.dealloc(b, layout);
        }
    }

    #[test]
    fn the_cache_holds_at_most_its_slots_and_its_bytes() {
        let mut c = Blocks {
            slots: [None; SLOTS],
            bytes: 0,
        };
        let block = Layout::from_size_align(MIN_BLOCK, 8).expect("layout");
        // The pointers are never dereferenced: only the bookkeeping is tested.
        let fake = |i: usize| (0x1000 * (i + 1)) as *mut u8;
        for i in 0..SLOTS {
            assert!(c.keep(fake(i), block), "slot {i}");
        }
        assert!(!c.keep(fake(SLOTS), block), "every slot is taken");
        assert_eq!(c.take(block), Some(fake(0)));
        let other = Layout::from_size_align(MIN_BLOCK, 16).expect("layout");
        assert_eq!(c.take(other), None, "alignment must match too");
        let huge = Layout::from_size_align(LIMIT, 8).expect("layout");
        assert!(!c.keep(fake(99), huge), "over the byte limit");
        assert!(!cached(
            Layout::from_size_align(MIN_BLOCK - 1, 8).expect("layout")
        ));
    }
}

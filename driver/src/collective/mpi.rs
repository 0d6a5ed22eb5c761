//! The MPI world as a [`Collective`], through rsmpi (the `mpi` crate) and
//! whatever MPI library the build found (Open MPI or MPICH).

use super::Collective;
use crate::Error;
use ::mpi::collective::SystemOperation;
use ::mpi::environment::Universe;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::{Communicator, CommunicatorCollectives, Root};
use ::mpi::Threading;

/// The world communicator of an initialised MPI; finalises MPI when dropped.
pub struct Mpi {
    world: SimpleCommunicator,
    /// Kept for its drop, which calls `MPI_Finalize`.
    _universe: Universe,
}

impl Mpi {
    /// Initialises MPI. Only the thread that calls this makes MPI calls
    /// (the compiled kernels' worker threads never do), so "funneled"
    /// threading is what tfg asks for.
    pub fn init() -> Result<Mpi, Error> {
        let (universe, _) = ::mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| Error::new("MPI was already initialised in this process"))?;
        Ok(Mpi {
            world: universe.world(),
            _universe: universe,
        })
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn ranks(&self) -> usize {
        self.world.size() as usize
    }

    // rsmpi has no in-place all-reduce, and MPI aborts the job on a
    // communication error (MPI_ERRORS_ARE_FATAL), so these cannot fail here.
    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<(), Error> {
        let mine = values.to_vec();
        self.world
            .all_reduce_into(&mine[..], values, SystemOperation::sum());
        Ok(())
    }

    fn all_reduce_sum_f64(&self, values: &mut [f64]) -> Result<(), Error> {
        let mine = values.to_vec();
        self.world
            .all_reduce_into(&mine[..], values, SystemOperation::sum());
        Ok(())
    }

    fn all_gather(&self, value: u64) -> Result<Vec<u64>, Error> {
        let mut all = vec![0u64; self.ranks()];
        self.world.all_gather_into(&value, &mut all[..]);
        Ok(all)
    }

    fn broadcast(&self, bytes: &mut [u8]) -> Result<(), Error> {
        self.world.process_at_rank(0).broadcast_into(bytes);
        Ok(())
    }

    fn barrier(&self) -> Result<(), Error> {
        self.world.barrier();
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

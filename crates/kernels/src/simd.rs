//! Loops compiled for the best SIMD extension the CPU has, chosen at run time: the workspace
//! builds for generic x86-64, where they would run four lanes wide.

/// Defines `$name`, which runs `$body` compiled for the best SIMD extension the CPU has.
macro_rules! simd_dispatched {
    (
        $(#[$meta:meta])*
        fn $name:ident $(<const $flag:ident: bool>)? ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
        $body:block
    ) => {
        $(#[$meta])*
        fn $name $(<const $flag: bool>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable $(<const $flag: bool>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512 $(<const $flag: bool>)? ($($arg: $ty),*) $(-> $ret)? {
                    portable $(::<$flag>)? ($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2 $(<const $flag: bool>)? ($($arg: $ty),*) $(-> $ret)? {
                    portable $(::<$flag>)? ($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has just been found to support AVX-512F.
                    return unsafe { avx512 $(::<$flag>)? ($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has just been found to support AVX2.
                    return unsafe { avx2 $(::<$flag>)? ($($arg),*) };
                }
            }
            portable $(::<$flag>)? ($($arg),*)
        }
    };
}

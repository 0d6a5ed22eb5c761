//! `tfg import MODEL.onnx -o OUT.tfg`: an ONNX model as a readable `.tfg`
//! file, and `OUT.safetensors` beside it with the params' values, so that
//! `tfg run OUT.tfg --restore OUT.safetensors` computes the model. The two
//! files appear together or not at all.

use crate::cli::ImportArgs;
use crate::failure::Failure;
use tfg_driver::source::import_onnx;
use tfg_driver::Error;
use tfg_formats::safetensors;
use tfg_formats::whole_file::Staged;

pub fn import(args: &ImportArgs) -> Result<(), Failure> {
    let name = args.model.display();
    let bytes =
        std::fs::read(&args.model).map_err(|e| Error::new(format!("cannot read `{name}`: {e}")))?;
    let imported = import_onnx(&args.model, &bytes)?;
    let params_path = args.output.with_extension("safetensors");
    if params_path == args.output {
        return Err(Error::new(format!(
            "`{}` would be both the .tfg file and its params; name the output OUT.tfg",
            args.output.display()
        ))
        .into());
    }
    let params: Vec<(&str, &tfg_ir::Tensor)> = imported
        .params
        .iter()
        .map(|(n, t)| (n.as_str(), t))
        .collect();
    let mut staged = Staged::new();
    let encoded = safetensors::encode(&params_path, &params).map_err(Error::new)?;
    staged.add(&params_path, &encoded).map_err(Error::new)?;
    staged
        .add(&args.output, imported.source.as_bytes())
        .map_err(Error::new)?;
    staged.commit().map_err(Error::new)?;
    Ok(())
}

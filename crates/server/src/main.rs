fn main() -> anyhow::Result<()> {
    wacontacts::cli::run()
}
